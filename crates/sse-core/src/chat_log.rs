//! Where the chat's rooms live: in this process (a [`Hub`] per room, in [`Rooms`]), or, with
//! `--redis URL` or `--redis-cluster URL[,URL...]`, in Redis, one stream per room, shared by
//! every instance of every framework, so that any number of servers behind a load balancer
//! serve the same rooms (see [`redis_log`](crate::redis_log)).
//!
//! Either way a subscriber reads hubs: with Redis they are the local mirrors of the rooms
//! someone on this server follows. So what a stream sends, and how it resumes, is one piece of
//! code whatever the store ([`room_stream`]).
//!
//! Tested by `cargo test -p sse-core chat_log`, and against a real Redis and a real Redis
//! Cluster by the contract suite and `crates/cluster-tests`.

use std::sync::Arc;

use crate::hub::Hub;
use crate::redis_log::RedisLog;
use crate::redis_status::Status;
use crate::room::Room;
use crate::room_stream::{self, ChatStream};
use crate::rooms::{Full, Rooms};

/// The chat log of one server process.
#[derive(Clone)]
pub enum ChatLog {
    /// This process alone: each room's hub gives out its ids.
    Memory(Arc<Rooms>),
    /// Redis streams shared by every instance, mirrored into hubs.
    Redis(RedisLog),
}

/// Why a message was not published.
#[derive(Debug)]
pub enum NotPublished {
    /// Redis did not take it (503, with `Retry-After`).
    Unavailable(String),
    /// The room is new and `--max-rooms` rooms exist already (507).
    Full(Full),
}

/// What a chat stream follows, and from where.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The rooms, in the request's order.
    pub rooms: Vec<Room>,
    /// For each room, the id of the last message the client has, if it said.
    pub positions: Vec<Option<u64>>,
    /// How many past messages a room starts with when its position is not known.
    pub history: usize,
    /// The most bytes replayed, all rooms together.
    pub replay_bytes: usize,
}

impl ChatLog {
    /// The hubs of the rooms in this process.
    pub fn rooms(&self) -> &Arc<Rooms> {
        match self {
            Self::Memory(rooms) => rooms,
            Self::Redis(redis) => redis.rooms(),
        }
    }

    /// Writes a message to `room` and returns its id. With Redis, the message reaches this
    /// process's subscribers (and every other instance's) through the room's reader.
    pub async fn publish(&self, room: &Room, user: &str, text: &str) -> Result<u64, NotPublished> {
        match self {
            Self::Memory(rooms) => {
                let hub = rooms.for_post(room).map_err(NotPublished::Full)?;
                Ok(hub.publish(user, text))
            }
            Self::Redis(redis) => redis.publish(room, user, text).await,
        }
    }

    /// The encoded events of one subscriber to `follow.rooms`: each room resumed after its
    /// position (see [`Hub::subscribe`]), or started with its `history`. Ready once every
    /// room's start is fixed, so that a stream whose head went out after it misses nothing
    /// posted from then on.
    ///
    /// With Redis, rooms already read here (the lobby always is) start at once, from their
    /// hubs. A room followed by nobody else here is first read from its stream (at most 2 s),
    /// and its `history` counts from what the stream holds then; a position above the newest id
    /// this process has read may be an id another instance has just given out: it is asked of
    /// Redis, and waited for (see [`RedisLog::starts`]).
    pub async fn subscribe(&self, follow: Follow) -> ChatStream {
        let replay_bytes = follow.replay_bytes;
        let starts = match self {
            Self::Memory(rooms) => follow
                .rooms
                .iter()
                .zip(&follow.positions)
                .map(|(room, &position)| {
                    let hub: Arc<Hub> = rooms.follow(room);
                    let start = hub.start(position, follow.history);
                    (hub, start)
                })
                .collect(),
            Self::Redis(redis) => redis.starts(follow).await,
        };
        room_stream::open(starts, replay_bytes)
    }

    /// `"memory"`, `"redis"` or `"redis-cluster"`, for `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(redis) => redis.kind(),
        }
    }

    /// With Redis, what is known of it, shared with `/health` and `/metrics`.
    pub fn redis_status(&self) -> Option<&Arc<Status>> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(redis) => Some(redis.status()),
        }
    }
}
