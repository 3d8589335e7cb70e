//! `--config` / `FRUGAL_CONFIG`: the one command-line argument every subcommand shares.

use std::path::PathBuf;

use clap::Args;

use super::{Config, ProcessEnv};

#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArg {
    /// A frugal.toml extending the built-in catalogue (default: ./frugal.toml if present).
    #[arg(long, short = 'c', env = "FRUGAL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// Load the configuration this argument names (or the default places).
    pub fn load(&self) -> anyhow::Result<Config> {
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("frugal.toml")).filter(|p| p.exists()),
        };
        if let Some(p) = &path {
            tracing::info!(path = %p.display(), "loading configuration");
        }
        Config::load(path.as_deref(), &ProcessEnv)
    }
}
