//! `frugal simulate`: replay a routing data set through the real pipeline and the loop.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// Routing data set (JSONL rows with per-model `scores`).
    #[arg(long)]
    pub data: PathBuf,
}

pub fn simulate_command(_args: &SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulate: not implemented yet")
}
