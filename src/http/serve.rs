//! Serving a router on a listener, with what `axum::serve` does not offer: a header-read
//! timeout (hyper's, which needs a timer), so a client that opens a connection and sends its
//! headers slowly, or not at all, is disconnected; and the client's address (`ConnectInfo`) in
//! every request, for the failed-authentication limit. Also the request timeout layer.

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json, Router,
};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt;

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections finish
/// (the caller bounds how long it waits for that).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error.message = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder
                .serve_connection(
                    TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(service),
                )
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result, remote),
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, remote);
                }
            }
        });
    }
    drop(stop_rx);
    let _ = stop_tx.send(());
    // Every connection holds a receiver: this resolves when the last one ended.
    stop_tx.closed().await;
}

fn log_end(result: Result<(), hyper::Error>, remote: SocketAddr) {
    if let Err(err) = result {
        tracing::debug!(client = %remote, error.message = %err, "connection ended with an error");
    }
}

/// Answers 408 with the JSON error shape when a request (its body included) takes longer than
/// `timeout`. `/graphql/ws` is long-lived by design and left alone.
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/graphql/ws" {
        return next.run(request).await;
    }
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(timeout_ms = timeout.as_millis(), "request timed out");
            (
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({ "error": {
                    "code": "REQUEST_TIMEOUT",
                    "message": format!("the request took longer than {} ms", timeout.as_millis()),
                }})),
            )
                .into_response()
        }
    }
}
