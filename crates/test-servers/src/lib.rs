//! The three servers, started inside the test process on `127.0.0.1:0`, each on its own thread
//! with its own runtime, exactly as their `main.rs` would run them (actix-web needs its own
//! `System`). In-process because `/compare` and the cluster tests need all three at once, and
//! cargo builds only a package's own binaries for its tests. Used by `browser-tests` and
//! `cluster-tests`.

use std::sync::mpsc;
use std::thread::JoinHandle;

use sse_core::{CancellationToken, Framework, Options, Tls, net};
use tokio::net::TcpListener;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `server-axum`.
    Axum,
    /// `server-actix`.
    Actix,
    /// `server-warp`.
    Warp,
}

impl Which {
    /// All three, in the order of the `/compare` columns.
    pub const ALL: [Which; 3] = [Which::Axum, Which::Actix, Which::Warp];

    /// The framework's name and default port.
    pub fn framework(self) -> Framework {
        match self {
            Which::Axum => server_axum::FRAMEWORK,
            Which::Actix => server_actix::FRAMEWORK,
            Which::Warp => server_warp::FRAMEWORK,
        }
    }
}

/// A server running on its own thread; stopped (its shutdown token cancelled, its thread
/// joined) when dropped.
pub struct Running {
    /// Which server this is.
    pub which: Which,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// `https` when started with `--tls`, else `http`.
    pub scheme: &'static str,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts `which` on a free port with these extra options (`["--retry-ms", "500"]`).
    pub fn start(which: Which, args: &[&str]) -> Self {
        Self::start_on(which, 0, args)
    }

    /// Starts `which` on `port` (0: any free port) with these extra options.
    pub fn start_on(which: Which, port: u16, args: &[&str]) -> Self {
        let framework = which.framework();
        let port = port.to_string();
        let mut argv = vec![framework.binary, "--host", "127.0.0.1", "--port", &port];
        argv.extend_from_slice(args);
        let options = Options::try_parse_for(framework, argv)
            .unwrap_or_else(|e| panic!("[{}] bad options: {e}", framework.name));
        let shutdown = CancellationToken::new();
        let (port_tx, port_rx) = mpsc::channel();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let run = async move {
                let listener = net::bind(&options.host, options.port)
                    .await
                    .expect("binding 127.0.0.1:0");
                let port = listener.local_addr().expect("a bound address").port();
                port_tx
                    .send(port)
                    .expect("the test is waiting for the port");
                serve(which, listener, options, token).await;
            };
            match which {
                Which::Actix => actix_web::rt::System::new().block_on(run),
                Which::Axum | Which::Warp => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(run),
            }
        });
        let port = port_rx
            .recv()
            .unwrap_or_else(|_| panic!("[{}] did not start", framework.name));
        Self {
            which,
            port,
            scheme: if args.contains(&"--tls") {
                "https"
            } else {
                "http"
            },
            shutdown,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` with `--tls`) followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }
}

async fn serve(which: Which, listener: TcpListener, options: Options, shutdown: CancellationToken) {
    let tls = Tls::from_options(&options).expect("usable TLS options");
    let served = match which {
        Which::Axum => server_axum::serve(listener, options, tls, shutdown).await,
        Which::Actix => server_actix::serve(listener, options, tls, shutdown).await,
        Which::Warp => server_warp::serve(listener, options, tls, shutdown).await,
    };
    served.expect("the server ran");
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            // A server that panicked has already failed the test with its own message.
            let _ = thread.join();
        }
    }
}
