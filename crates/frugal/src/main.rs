//! The `frugal` binary: parse arguments, set up logging, run the subcommand.

use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FRUGAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(frugal_core::secrets::RedactingStderr)
        .init();
    let cli = frugal::cli::Cli::parse();
    match frugal::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", frugal_core::secrets::redact(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
