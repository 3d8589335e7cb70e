//! The `mock-upstream` binary: serves the mock provider on a TCP port for scripts and benchmarks.
//! stdout carries exactly one line (the listening URL) so scripts can parse the port; logs go to
//! stderr.

use std::io::Write;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "mock-upstream",
    about = "A fake OpenAI + Anthropic provider with fault modes"
)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free one (read it from the first stdout line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How many requests `/mock/requests` keeps before dropping the oldest.
    #[arg(long, default_value_t = mock_upstream::DEFAULT_LOG_CAPACITY)]
    log_capacity: usize,
    /// Keep each request body's exact bytes in the log (`raw_body`), for byte-level checks.
    #[arg(long)]
    log_raw_bodies: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "mock-upstream listening on http://{addr}")?;
        out.flush()?;
    }
    let state = mock_upstream::MockState::with_log(args.log_capacity, args.log_raw_bodies);
    let listener = axum::serve::ListenerExt::tap_io(listener, mock_upstream::no_delay);
    axum::serve(listener, mock_upstream::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("mock-upstream stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM (what process supervisors and test harnesses send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
