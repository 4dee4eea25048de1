//! What an instance knows of its Redis, for `/health` and `/metrics`: whether each node (with a
//! cluster, each master) answers, checked every second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::redis_conn::{self, Connection, timed};

/// How often the nodes are asked.
const EVERY: Duration = Duration::from_secs(1);

/// What an instance knows of its Redis, for `/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct Status {
    up: AtomicBool,
    /// Each node (master) and whether it answered the last `PING`.
    nodes: Mutex<Vec<(String, bool)>>,
    /// Times the connection came back after Redis (or a node) was lost.
    pub reconnects: Counter,
}

impl Status {
    /// Whether every node answers now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Each node, `host:port`, and whether it answers: with a cluster, its masters.
    pub fn nodes(&self) -> Vec<(String, bool)> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Every second: which nodes answer `PING` (with a cluster, each master that `CLUSTER NODES`
/// lists), into `status`.
pub(crate) async fn watch_nodes(
    mut connection: Connection,
    mut masters: Vec<String>,
    status: &Status,
) {
    let cluster = matches!(connection, Connection::Cluster(_));
    loop {
        if cluster {
            let mut command = redis::cmd("CLUSTER");
            command.arg("NODES");
            if let Ok(nodes) = timed(command.query_async::<String>(&mut connection)).await {
                masters = redis_conn::masters(&nodes);
            }
        }
        let mut nodes = Vec::with_capacity(masters.len());
        for node in &masters {
            let ping = timed(connection.on_node(node, redis::cmd("PING"))).await;
            nodes.push((node.clone(), ping.is_ok()));
        }
        let up = !nodes.is_empty() && nodes.iter().all(|(_, up)| *up);
        if up && !status.up.swap(true, Ordering::Relaxed) {
            if !status.nodes().is_empty() {
                status.reconnects.inc();
                tracing::warn!("redis is back; the chat goes on");
            }
        } else if !up && status.up.swap(false, Ordering::Relaxed) {
            let away: Vec<&str> = nodes
                .iter()
                .filter(|n| !n.1)
                .map(|n| n.0.as_str())
                .collect();
            tracing::error!(
                "redis unreachable ({}): posts to its rooms get 503, open streams stay open",
                away.join(", ")
            );
        }
        *status.nodes.lock().unwrap_or_else(PoisonError::into_inner) = nodes;
        tokio::time::sleep(EVERY).await;
    }
}
