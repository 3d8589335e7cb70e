//! Reading a request body within limits: its size (`server.max_body_bytes`), a deadline and
//! a longest pause (`server.body_timeout_secs`: a client that announces 1,000 bytes and
//! sends 16 is answered 408, not waited on for ever), and a byte budget shared by every
//! request in flight (`server.body_budget_bytes`: beyond it, 503 with `retry-after`, so
//! sixteen 30 MB bodies at once cannot take the process's memory). The reservation is
//! returned with the bytes and released when the request is done with them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::error::GatewayError;

/// Bytes of request bodies held at once, across requests.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                let next = u.checked_add(n)?;
                (next <= self.limit).then_some(next)
            })
            .is_ok()
    }
}

/// Part of the budget, given back on drop.
#[derive(Debug)]
pub struct Reserved {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reserved {
    fn grow(&mut self, n: usize) -> bool {
        if self.budget.try_take(n) {
            self.bytes += n;
            true
        } else {
            false
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The limits one body is read under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

fn busy() -> GatewayError {
    GatewayError::Overloaded(
        "the gateway is holding as many request bodies as its memory budget allows \
         (server.body_budget_bytes); retry shortly"
            .into(),
    )
}

/// Read `body` whole, or say why not (413, 408, 503 or 400, in the caller's format).
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limits: Limits,
    budget: &Arc<Budget>,
) -> Result<(Bytes, Reserved), GatewayError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if announced.is_some_and(|n| n > limits.max_bytes) {
        return Err(GatewayError::PayloadTooLarge(limits.max_bytes));
    }
    let mut held = Reserved {
        budget: budget.clone(),
        bytes: 0,
    };
    // An announced length is reserved up front: a request that cannot fit is refused
    // before a byte of it is read.
    if let Some(n) = announced {
        if !held.grow(n) {
            return Err(busy());
        }
    }
    let deadline = Instant::now() + limits.timeout;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::with_capacity(announced.unwrap_or(0).min(limits.max_bytes));
    loop {
        let next = tokio::time::timeout_at(deadline, body.frame()).await;
        let frame = match next {
            Err(_) => {
                return Err(GatewayError::RequestTimeout(format!(
                    "the request body did not arrive within {} s (server.body_timeout_secs)",
                    limits.timeout.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(GatewayError::InvalidRequest(format!(
                    "cannot read the request body: {e}"
                )))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if buf.len() + data.len() > limits.max_bytes {
            return Err(GatewayError::PayloadTooLarge(limits.max_bytes));
        }
        let beyond = (buf.len() + data.len()).saturating_sub(held.bytes);
        if beyond > 0 && !held.grow(beyond) {
            return Err(busy());
        }
        buf.extend_from_slice(&data);
    }
    Ok((Bytes::from(buf), held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_bytes: 100,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn budget_is_shared_and_given_back() {
        let budget = Budget::new(150);
        let (b1, r1) = read(
            Body::from(vec![b'x'; 80]),
            &HeaderMap::new(),
            limits(),
            &budget,
        )
        .await
        .expect("fits");
        assert_eq!((b1.len(), budget.used()), (80, 80));
        let second = read(
            Body::from(vec![b'y'; 80]),
            &HeaderMap::new(),
            limits(),
            &budget,
        )
        .await;
        assert!(matches!(second, Err(GatewayError::Overloaded(_))));
        assert_eq!(budget.used(), 80, "a refused body gives its part back");
        drop(r1);
        assert_eq!(budget.used(), 0);
        let too_big = read(
            Body::from(vec![b'z'; 101]),
            &HeaderMap::new(),
            limits(),
            &budget,
        )
        .await;
        assert!(matches!(too_big, Err(GatewayError::PayloadTooLarge(100))));
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        tx.send(Ok(Bytes::from_static(b"{partial")))
            .await
            .expect("send");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "50".parse().expect("hv"));
        let short = Limits {
            timeout: Duration::from_millis(100),
            ..limits()
        };
        let r = read(body, &h, short, &Budget::new(1000)).await;
        assert!(matches!(r, Err(GatewayError::RequestTimeout(_))), "{r:?}");
        drop(tx);
    }
}
