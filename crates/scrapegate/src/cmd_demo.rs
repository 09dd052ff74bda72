//! `scrapegate demo`: everything needed to see the gateway work, in one command.
//!
//! Creates a throwaway CA and server certificate (ECDSA P-256), a demo user with a random
//! password (bcrypt cost 10, `$2y$`), a web.yml, all in a temporary directory removed on exit;
//! starts a built-in sample exporter on a random loopback port and the gateway in front of it,
//! and prints the curl command that scrapes it. Runs until Ctrl-C.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, FromArgMatches as _};
use rand::Rng as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::cmd_serve::{self, ServeArgs};

/// Flags of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the gateway listens (port 0 picks a free port; the bound address is printed).
    #[arg(long = "listen", default_value = "127.0.0.1:9443")]
    pub listen: String,
}

/// The files the demo writes.
struct DemoFiles {
    dir: tempfile::TempDir,
    password: String,
}

fn write_files() -> Result<DemoFiles, String> {
    let dir = tempfile::Builder::new()
        .prefix("scrapegate-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let err = |e: rcgen::Error| format!("cannot create the demo certificates: {e}");

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, "scrapegate demo CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer).map_err(err)?;

    let password: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let hash = bcrypt::hash_with_result(&password, 10)
        .map_err(|e| format!("cannot hash the demo password: {e}"))?
        .format_for_version(bcrypt::Version::TwoY);
    let web_yml = format!(
        "# Written by `scrapegate demo`; removed when the demo exits.\n\
         tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         basic_auth_users:\n  demo: {hash}\n"
    );
    let write = |name: &str, content: &[u8]| {
        std::fs::write(dir.path().join(name), content)
            .map_err(|e| format!("cannot write {name}: {e}"))
    };
    write("ca.pem", ca_cert.pem().as_bytes())?;
    write("server.crt", cert.pem().as_bytes())?;
    write("server.key", key.serialize_pem().as_bytes())?;
    write("web.yml", web_yml.as_bytes())?;
    Ok(DemoFiles { dir, password })
}

fn serve_args(listen: &str, web_yml: &Path, upstream: SocketAddr) -> Result<ServeArgs, String> {
    // Parse real flags so every other setting gets the same default as `serve`.
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let argv = [
        "scrapegate".to_string(),
        format!("--web.listen-address={listen}"),
        format!("--web.config.file={}", web_yml.display()),
        format!("--upstream=http://{upstream}"),
    ];
    let matches = Wrapper::command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    Wrapper::from_arg_matches(&matches)
        .map(|w| w.serve)
        .map_err(|e| e.to_string())
}

pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scrapegate demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> ExitCode {
    let files = match write_files() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("scrapegate demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sample = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("scrapegate demo: cannot open the sample exporter's port: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(sample_addr) = sample.local_addr() else {
        return ExitCode::FAILURE;
    };
    let sample_task = crate::demo_exporter::spawn(sample);
    let dir = files.dir.path().to_path_buf();
    let serve = match serve_args(&args.listen, &dir.join("web.yml"), sample_addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scrapegate demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let password = files.password.clone();
    let on_listening: cmd_serve::OnListening = Box::new(move |addrs: &[SocketAddr]| {
        let Some(addr) = addrs.first() else { return };
        let ca = dir.join("ca.pem");
        println!("scrapegate demo is running (Ctrl-C to stop).");
        println!("  files:     {} (removed on exit)", dir.display());
        println!("  user:      demo");
        println!("  password:  {password}");
        println!("  exporter:  http://{sample_addr}/metrics (built-in sample)");
        println!("  gateway:   https://{addr}");
        println!();
        println!("Scrape it through the gateway:");
        println!(
            "  curl --cacert {} -u demo:{password} https://{addr}/metrics",
            ca.display()
        );
    });
    let code = cmd_serve::serve(serve, Some(on_listening)).await;
    sample_task.abort();
    // `files` is dropped here: the temporary directory goes away.
    drop(files);
    code
}
