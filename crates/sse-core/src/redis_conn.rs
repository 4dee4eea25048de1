//! One connection to Redis, whichever Redis it is: one server (`--redis URL`) or a Redis
//! Cluster (`--redis-cluster URL[,URL...]`). Both are multiplexed (every command of the
//! process shares it, none blocks it), reconnect by themselves, and pass pub/sub messages to one
//! callback; a cluster connection also routes each command to the master of its key's slot.
//!
//! The chat uses it through [`redis_log`](crate::redis_log); this file only hides which kind it
//! is.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, SendError};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Client, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, RedisFuture, RedisResult,
    Value,
};

/// How long a command may take before it fails, and a connection attempt too.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the chat's Redis is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One server: `--redis URL`.
    Single(String),
    /// A Redis Cluster, reached first through any of these nodes: `--redis-cluster`.
    Cluster(Vec<String>),
}

impl Target {
    /// The nodes to watch before a cluster says which are its masters: the one server's
    /// `host:port`, or none.
    pub fn first_nodes(&self) -> Vec<String> {
        match self {
            Self::Single(url) => {
                let address = url
                    .as_str()
                    .into_connection_info()
                    .map(|i| i.addr().to_string());
                vec![address.unwrap_or_else(|_| url.clone())]
            }
            Self::Cluster(_) => Vec::new(),
        }
    }
}

/// A connection to the [`Target`]. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub enum Connection {
    /// One server, through redis-rs's connection manager.
    Single(ConnectionManager),
    /// A cluster, through redis-rs's cluster connection.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects to `target` (waiting for it is up to the caller: this fails when it is
    /// unreachable). Every pub/sub message received is handed to `on_push`; subscriptions are
    /// made again after a reconnection.
    pub async fn connect(
        target: &Target,
        on_push: impl Fn(PushInfo) + Send + Sync + 'static,
    ) -> RedisResult<Self> {
        let on_push = move |push| {
            on_push(push);
            Ok::<(), SendError>(())
        };
        match target {
            Target::Single(url) => {
                // RESP3: pub/sub messages arrive on the same connection as replies.
                let info = url.as_str().into_connection_info()?;
                let settings = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                let client = Client::open(info.set_redis_settings(settings))?;
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_push_sender(on_push)
                    .set_automatic_resubscription();
                let manager = ConnectionManager::new_with_config(client, config).await?;
                Ok(Self::Single(manager))
            }
            Target::Cluster(urls) => {
                let client = ClusterClientBuilder::new(urls.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(COMMAND_TIMEOUT)
                    .response_timeout(COMMAND_TIMEOUT)
                    .retries(1)
                    .push_sender(on_push)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Follows `channel`: a sharded channel on a cluster (it lives on the master of its slot,
    /// as the room's stream does), a plain one on one server.
    pub async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(manager) => manager.subscribe(channel).await,
            Self::Cluster(cluster) => cluster.ssubscribe(channel).await,
        }
    }

    /// Stops following `channel`.
    pub async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(manager) => manager.unsubscribe(channel).await,
            Self::Cluster(cluster) => cluster.sunsubscribe(channel).await,
        }
    }

    /// The command that publishes to a channel [`Connection::subscribe`] follows.
    pub fn publish_command(&self) -> &'static str {
        match self {
            Self::Single(_) => "PUBLISH",
            Self::Cluster(_) => "SPUBLISH",
        }
    }

    /// Sends `command` to the node at `address` (`host:port`) of a cluster, or to the one server.
    pub async fn on_node(&mut self, address: &str, command: Cmd) -> RedisResult<Value> {
        match self {
            Self::Single(manager) => command.query_async(manager).await,
            Self::Cluster(cluster) => {
                let (host, port) = address.rsplit_once(':').unwrap_or((address, "6379"));
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port: port.parse().unwrap_or(6379),
                });
                cluster.route_command(command, routing).await
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// The masters of a cluster, `host:port`, from `CLUSTER NODES` (those that hold slots, failed
/// or not).
pub fn masters(cluster_nodes: &str) -> Vec<String> {
    let mut masters: Vec<String> = cluster_nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let is_master = fields.get(2)?.split(',').any(|flag| flag == "master");
            let holds_slots = fields.len() > 8;
            let address = fields.get(1)?.split('@').next()?;
            (is_master && holds_slots).then(|| address.to_owned())
        })
        .collect();
    masters.sort();
    masters
}

/// A command with [`COMMAND_TIMEOUT`]: redis-rs's own timeouts do not cover a cluster's
/// retries.
pub async fn timed<T>(command: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Redis did not answer in time",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:7003@17003 master,fail - 1 1 3 disconnected 10923-16383
292f 127.0.0.1:7002@17002 master - 0 2 2 connected 5461-10922
824f 127.0.0.1:7004@17004 slave 07c3 0 3 1 connected
";
        assert_eq!(
            masters(nodes),
            ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
        );
    }
}
