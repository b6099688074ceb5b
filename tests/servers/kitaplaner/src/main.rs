//! `hub-test-kitaplaner-server --dir <certs-dir> [--port N]`: generates the test PKI into
//! the folder if it is missing, prints the URL and the paths, and serves until killed.

use std::path::PathBuf;
use std::process::ExitCode;

use hub_test_kitaplaner_server::{Behaviour, Pki, try_start};

const USAGE: &str = "usage: hub-test-kitaplaner-server --dir <certs-dir> [--port N]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub-test-kitaplaner-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut dir = None;
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
            "--port" => {
                let v = args.next().ok_or(USAGE)?;
                port = v
                    .parse()
                    .map_err(|_| format!("--port {v}: not a port number"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let dir = dir.ok_or(USAGE)?;
    let pki = Pki::ensure(&dir).map_err(|e| e.to_string())?;
    let server = try_start(&pki, Behaviour::default(), port).map_err(|e| e.to_string())?;
    println!("url        {}", server.url());
    println!("ca         {}", pki.ca_pem.display());
    for (what, id) in [
        ("client", &pki.client),
        ("legacy", &pki.client_legacy),
        ("untrusted", &pki.client_untrusted),
        ("expired", &pki.client_expired),
    ] {
        println!(
            "{what:<10} {}  password {}  (CN {})",
            id.p12.display(),
            id.password,
            id.cn
        );
    }
    println!("serving until killed");
    loop {
        std::thread::park();
    }
}
