//! The real services some tests need besides the servers: a `redis-server` and an `nginx`
//! (Debian's packages; `scripts/test.sh` installs them), each started on a free loopback port
//! with its files in a directory of its own under the system's temporary directory, and stopped
//! (and the directory removed) when dropped. A missing program fails the test with the command
//! that installs it: these tests never skip.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The reverse proxy's configuration, checked in at `deploy/nginx.conf`, with its upstream
/// servers at ports 3000 to 3002 and its own port 8080.
pub const NGINX_CONF: &str = include_str!("../../../deploy/nginx.conf");

/// A directory of its own under the temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory named after `what`, this process and a counter.
    pub fn new(what: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("sse-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        Self(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// Starts `program` with `args`, or fails the test saying how to install it.
fn spawn(program: &str, package: &str, args: &[String]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {program} ({e}): install it with `apt-get install {package}`, \
                 as scripts/test.sh does"
            )
        })
}

/// Waits, at most 5 s, until something accepts connections at `addr`.
fn wait_for_port(addr: SocketAddr, what: &str, child: &mut Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited at start ({status}); is port {} taken?",
                addr.port()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what} is not listening on {addr} after 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a child with SIGTERM (so Redis writes its append-only file), at most 5 s, then kills.
fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A `redis-server` of the test's own.
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    port: u16,
    append_only: bool,
    /// A node of a Redis Cluster (see [`RedisCluster`]).
    cluster: bool,
    dir: TempDir,
}

impl Redis {
    /// Starts one on a free port, keeping nothing on disk.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts one on a free port that writes every change to an append-only file in its
    /// directory (fsync each second, and at a SIGTERM), so that a restart keeps the chat.
    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    fn start_with(append_only: bool) -> Self {
        let mut redis = Self {
            child: None,
            port: free_port(),
            append_only,
            cluster: false,
            dir: TempDir::new("redis"),
        };
        redis.start_again();
        redis
    }

    /// `redis://127.0.0.1:PORT`, for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Stops it with SIGTERM, as an operator would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }

    /// Starts it again on the same port and directory (with the append-only file, if any, it
    /// comes back with what it held).
    pub fn start_again(&mut self) {
        self.stop();
        let dir = self.dir.path().display().to_string();
        let append_only = if self.append_only { "yes" } else { "no" };
        let args = [
            "--bind",
            "127.0.0.1",
            "--port",
            &self.port.to_string(),
            "--dir",
            &dir,
            "--save",
            "",
            "--appendonly",
            append_only,
            "--daemonize",
            "no",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if self.cluster {
            // One master away must not stop the others' slots (the default would: the whole
            // cluster refuses commands until every slot is served again).
            let cluster = [
                "--cluster-enabled yes",
                "--cluster-config-file nodes.conf",
                "--cluster-node-timeout 1000",
                "--cluster-require-full-coverage no",
            ];
            args.extend(
                cluster
                    .iter()
                    .flat_map(|pair| pair.split(' '))
                    .map(str::to_owned),
            );
        }
        let mut child = spawn("redis-server", "redis-server", &args);
        wait_for_port(
            ([127, 0, 0, 1], self.port).into(),
            "redis-server",
            &mut child,
        );
        self.child = Some(child);
    }

    /// Starts it again empty: what it held is lost, as when a Redis without persistence restarts.
    pub fn restart_empty(&mut self) {
        self.stop();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir_all(entry.path());
            let _ = std::fs::remove_file(entry.path());
        }
        self.start_again();
    }
}

/// A Redis Cluster of the test's own: three masters (no replicas) on free loopback ports, made
/// one cluster with `redis-cli --cluster create`, their files in temporary directories.
#[derive(Debug)]
pub struct RedisCluster {
    /// The masters, each a `redis-server` in cluster mode that [`Redis::stop`] and
    /// [`Redis::start_again`] stop and start (with its data and its place in the cluster).
    pub masters: Vec<Redis>,
}

impl RedisCluster {
    /// Starts three masters and joins them; waits until the cluster serves every slot.
    pub fn start() -> Self {
        let masters: Vec<Redis> = (0..3)
            .map(|_| {
                let mut redis = Redis {
                    child: None,
                    port: free_cluster_port(),
                    append_only: true,
                    cluster: true,
                    dir: TempDir::new("redis-cluster"),
                };
                redis.start_again();
                redis
            })
            .collect();
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(masters.iter().map(|m| format!("127.0.0.1:{}", m.port)));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(str::to_owned));
        let created = Command::new("redis-cli")
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): apt-get install redis-tools"));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { masters };
        cluster.wait_until_ok();
        cluster
    }

    /// `redis://127.0.0.1:P1,redis://127.0.0.1:P2,...`, for `--redis-cluster`.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.masters.iter().map(Redis::url).collect();
        urls.join(",")
    }

    /// `127.0.0.1:PORT` of each master, as `/health` names them.
    pub fn addresses(&self) -> Vec<String> {
        self.masters
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.port))
            .collect()
    }

    /// Which master (its index) holds `key`'s slot, from `CLUSTER KEYSLOT` and each master's
    /// own slot ranges in `CLUSTER NODES`.
    pub fn master_of(&self, key: &str) -> usize {
        let first = self
            .masters
            .iter()
            .find(|m| m.child.is_some())
            .expect("a master running");
        let slot: u16 = cli(first.port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot number");
        self.masters
            .iter()
            .position(|m| {
                let nodes = cli(m.port, &["CLUSTER", "NODES"]);
                let myself = nodes
                    .lines()
                    .find(|l| l.contains("myself"))
                    .unwrap_or_default();
                myself.split_whitespace().skip(8).any(|range| {
                    let (low, high) = range.split_once('-').unwrap_or((range, range));
                    let (low, high) = (low.parse().unwrap_or(1), high.parse().unwrap_or(0));
                    (low..=high).contains(&slot)
                })
            })
            .unwrap_or_else(|| panic!("no master holds slot {slot}"))
    }

    /// Waits, at most 10 s, until every master says `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        let start = Instant::now();
        while !self
            .masters
            .iter()
            .all(|m| cli(m.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the cluster is not ok after 10 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A free port whose cluster bus port (10000 more) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// What `redis-cli -p port args...` prints.
fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): apt-get install redis-tools"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An `nginx` of the test's own, running the checked-in `deploy/nginx.conf` with its upstreams
/// and its port replaced.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (in place of 3000, 3001 and 3002; at most three),
    /// with `edit` applied to the configuration first (to try a setting).
    pub fn start(upstreams: &[SocketAddr], edit: impl FnOnce(String) -> String) -> Self {
        let dir = TempDir::new("nginx");
        let port = free_port();
        let mut conf =
            NGINX_CONF.replace("listen 127.0.0.1:8080", &format!("listen 127.0.0.1:{port}"));
        let defaults = ["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"];
        assert!(upstreams.len() <= defaults.len(), "at most three upstreams");
        for (default, upstream) in defaults.iter().zip(upstreams) {
            conf = conf.replace(&format!("server {default}"), &format!("server {upstream}"));
        }
        for default in defaults.iter().skip(upstreams.len()) {
            conf = conf.replace(&format!("server {default}"), &format!("# server {default}"));
        }
        let conf = edit(conf);
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("writing nginx.conf");
        // -p: every relative path (logs, temporary files, pid) in the test's directory.
        let prefix = format!("{}/", dir.path().display());
        let args = [
            "-p",
            &prefix,
            "-c",
            &path.display().to_string(),
            "-e",
            "stderr",
        ];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // Debian puts it in /usr/sbin, which is not on every user's PATH.
        let sbin = Path::new("/usr/sbin/nginx");
        let program = if sbin.exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let mut child = spawn(program, "nginx", &args);
        let addr = ([127, 0, 0, 1], port).into();
        wait_for_port(addr, "nginx", &mut child);
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}
