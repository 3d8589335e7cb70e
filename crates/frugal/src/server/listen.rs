//! Accepting connections with limits a public gateway needs: TCP_NODELAY on every socket
//! (a stream's last frame must not wait for the client's delayed ACK), a header read
//! timeout (a client that never finishes its headers is disconnected), an idle timeout
//! between requests on a kept-alive connection, a cap on open connections (one more is
//! answered `503` with a JSON body and closed, not left waiting), and graceful shutdown
//! (in-flight requests and streams finish; new connections stop). Every socket is wrapped
//! in `head_errors::JsonErrors` before hyper sees it, so the errors hyper answers itself
//! (a head it cannot parse, one left half-sent) are JSON in the route's format too.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::head_errors::JsonErrors;

/// Connection limits (from `[server]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serve `app` on `listener` until `shutdown` resolves, then let open connections finish
/// what they are doing (up to `grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let builder = connection_builder(&limits);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, a reset during the handshake: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(tcp));
            continue;
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|r: axum::http::Request<Incoming>| r.map(Body::new)),
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(JsonErrors::new(tcp)), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    drain(graceful, grace).await;
    Ok(())
}

/// HTTP/1 with the header read timeout, HTTP/2 with keep-alive pings.
fn connection_builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Lets in-flight requests finish, for at most `grace`.
async fn drain(graceful: GracefulShutdown, grace: Duration) {
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "connections still open after the grace period; closing them"
        );
    }
}

/// The answer to a connection over the cap: a complete HTTP/1.1 503 with frugal's JSON
/// error and `retry-after`, then close (an HTTP/2 client sees the connection close).
async fn refuse(mut tcp: TcpStream) {
    let body = r#"{"error":{"message":"the gateway is at its connection limit (server.max_connections); retry shortly","type":"server_error","param":null,"code":"too_many_connections"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    };
    // A peer that does not read gets dropped after a second.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
