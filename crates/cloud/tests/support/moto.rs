//! Starts moto's server (installed by `scripts/moto.sh`) on a free port of 127.0.0.1 for one
//! test, and kills it when dropped. Without moto installed it panics: never a silent pass.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub url: String,
}

/// Where `scripts/moto.sh` put the venv: `$IRENE_MOTO_VENV`, else `moto-venv` in the target
/// dir this test binary was built in, else in `$CARGO_TARGET_DIR` or the default target dir.
fn venvs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(v) = std::env::var("IRENE_MOTO_VENV") {
        out.push(PathBuf::from(v));
    }
    if let Ok(exe) = std::env::current_exe() {
        // <target>/debug/deps/aws_moto-<hash>
        if let Some(target) = exe.ancestors().nth(3) {
            out.push(target.join("moto-venv"));
        }
    }
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        out.push(PathBuf::from(t).join("moto-venv"));
    }
    if let Ok(home) = std::env::var("HOME") {
        out.push(PathBuf::from(home).join(".cache/irene-target/moto-venv"));
    }
    out
}

impl Moto {
    pub fn start() -> Moto {
        let tried = venvs();
        let Some(bin) = tried
            .iter()
            .map(|v| v.join("bin/moto_server"))
            .find(|b| b.is_file())
        else {
            panic!(
                "moto_server not found (looked in {tried:?}): run scripts/moto.sh \
                 (it needs PyPI); this test must not pass without the AWS stand-in"
            );
        };
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("local addr").port()
        };
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {addr} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
