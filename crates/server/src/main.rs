//! `conclave-server`: the room server on its own, for self-hosting.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use conclave_protocol::Limits;
use conclave_protocol::Role;
use conclave_server::logs::LogBudget;
use conclave_server::tokens::{JoinClaims, TokenKey};
use conclave_server::{ConnectionLimits, Origins, ServerConfig, TlsIdentity, TurnConfig};
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::prelude::*;

#[derive(Parser)]
#[command(
    version,
    about = "Conclave room server: signaling and SFU",
    after_help = CONFIG_HELP,
    // A setting given twice (in the --config file, then on the command line): the last wins.
    args_override_self = true
)]
struct Args {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// Read settings from this TOML file; the command line wins over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to serve a LAN.
    #[arg(long, default_value = "127.0.0.1:7880")]
    listen: SocketAddr,
    /// TLS certificate chain, PEM (leaf first): serve wss://. With --tls-key.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Serve plain ws:// on a non-loopback address: names, chat and moderator
    /// secrets cross the network readable. Without TLS, only loopback is served.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure: bool,
    /// A web origin whose pages may connect (`https://meet.example.org`),
    /// besides the server's own; repeat for more. Requests with no Origin
    /// (native clients) are always accepted.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The address members reach this server at, when it sits behind 1:1
    /// NAT (most cloud machines: the public address is not on an interface).
    /// Media candidates then name it.
    #[arg(long, value_name = "IP")]
    public_ip: Option<std::net::IpAddr>,
    /// Offer ICE over TCP too, for members whose networks block UDP. Each
    /// member's TCP candidate is a listener on an ephemeral port (webrtc 0.21
    /// cannot share one port), so the firewall must let TCP through there.
    #[arg(long)]
    ice_tcp: bool,
    /// Media ports, FIRST-LAST: each member's media uses one port of the
    /// range, UDP (and TCP with --ice-tcp), so the firewall opens only these.
    /// The range caps the members on the server (webrtc 0.21 cannot share
    /// one port among connections). Ephemeral ports without it.
    #[arg(long, value_name = "FIRST-LAST")]
    media_ports: Option<conclave_rtc::PortRange>,
    /// A TURN server members may relay media through (`turn:HOST:PORT`,
    /// UDP); repeat for more. Each member gets time-limited credentials in
    /// `welcome`, signed with --turn-secret (coturn's `use-auth-secret`).
    #[arg(long = "turn", value_name = "URL", requires = "turn_secret")]
    turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`. Better from the environment.
    #[arg(long, env = "CONCLAVE_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// How long a member's TURN credentials can start new relays: 90s, 30m, 12h.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    turn_ttl: u64,
    /// Relay this server's own media through --turn too: for a server that
    /// members cannot reach directly (behind NAT with no port forwarded for media).
    #[arg(long, requires = "turn_urls")]
    turn_relay_self: bool,
    /// Let in only members with a join token signed with this secret
    /// (`conclave-server token` mints them). Better from the environment
    /// than on the command line, where other users can read it.
    #[arg(long, env = "CONCLAVE_AUTH_SECRET", hide_env_values = true)]
    auth_secret: Option<String>,
    /// Most members in one room.
    #[arg(long, default_value_t = Limits::default().max_members_per_room)]
    max_members: usize,
    /// How long a member whose connection dropped stays in its room,
    /// reconnecting, before it is removed: 30s, 2m (0: at once).
    #[arg(long, default_value = "30s", value_parser = parse_ttl)]
    reconnect_grace: u64,
    /// Most rooms open at once.
    #[arg(long, default_value_t = Limits::default().max_rooms)]
    max_rooms: usize,
    /// Most members in all rooms together.
    #[arg(long, default_value_t = Limits::default().max_members)]
    max_members_total: usize,
    /// Most connections open at once.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Most connections open at once from one IP address. Behind a reverse
    /// proxy every client has the proxy's address: raise this.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// Frames per second all connections from one IP address may send together (0: no limit).
    #[arg(long, default_value_t = ConnectionLimits::default().max_messages_per_second_per_ip)]
    max_messages_per_second_per_ip: u32,
    /// Frames a connection may send per second (twice this in a burst).
    /// Hidden: for tests that churn faster than a person could.
    #[arg(long, hide = true, default_value_t = Limits::default().max_messages_per_second)]
    max_messages_per_second: u32,
}

const CONFIG_HELP: &str = "Every option can also be set in the --config file, under its long name:
  listen = \"0.0.0.0:7880\"
  tls-cert = \"/etc/letsencrypt/live/meet.example.org/fullchain.pem\"
  tls-key = \"/etc/letsencrypt/live/meet.example.org/privkey.pem\"
  allow-origin = [\"https://meet.example.org\"]
  turn = [\"turn:turn.example.org:3478\"]
  max-members = 50
Options on the command line win over the file.";

/// The command line with the `--config` file's settings put before it, as
/// the options they name (so clap checks them, and the command line, which
/// comes last, wins). A key that names no option is an error.
fn with_config_file(argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let Some(path) = config_path(&argv) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", path.display()))?;
    let command = <Args as clap::CommandFactory>::command();
    let known: Vec<&str> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| arg.get_long())
        .filter(|name| *name != "config")
        .collect();
    let mut settings: Vec<OsString> = Vec::new();
    for (key, value) in table {
        if !known.contains(&key.as_str()) {
            anyhow::bail!(
                "{}: {key} is not a setting (the settings are the options of conclave-server --help)",
                path.display()
            );
        }
        let values = match value {
            toml::Value::Array(items) => items,
            one => vec![one],
        };
        for value in values {
            match value {
                toml::Value::Boolean(true) => settings.push(format!("--{key}").into()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(text) => {
                    settings.extend([format!("--{key}").into(), text.into()])
                }
                toml::Value::Integer(n) => {
                    settings.extend([format!("--{key}").into(), n.to_string().into()])
                }
                other => anyhow::bail!(
                    "{}: {key} = {other} is not a string, number or true/false",
                    path.display()
                ),
            }
        }
    }
    let mut all = vec![argv[0].clone()];
    all.extend(settings);
    all.extend(argv.into_iter().skip(1));
    Ok(all)
}

/// The value of `--config FILE` or `--config=FILE`, if given.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

#[derive(clap::Subcommand)]
enum Tool {
    /// Print a join token for a server started with the same --auth-secret.
    Token {
        #[arg(long, env = "CONCLAVE_AUTH_SECRET", hide_env_values = true)]
        auth_secret: String,
        /// The room it opens.
        #[arg(long)]
        room: String,
        /// The display name its holder joins with.
        #[arg(long)]
        name: String,
        /// Its holder joins as a moderator.
        #[arg(long)]
        moderator: bool,
        /// How long it is valid: 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: u64,
    },
}

/// `90s`, `30m`, `1h`, `7d` (or plain seconds) in seconds.
fn parse_ttl(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 1h or 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{unit:?} is not a unit: use s, m, h or d")),
    };
    Ok(number * scale)
}

fn mint(secret: &str, room: String, name: String, moderator: bool, ttl: u64) {
    let now = conclave_protocol::clock::unix_ms() / 1000;
    let claims = JoinClaims {
        room,
        name,
        role: if moderator {
            Role::Moderator
        } else {
            Role::Participant
        },
        exp: now + ttl,
        iat: now,
    };
    println!("{}", TokenKey::new(secret.as_bytes()).mint(&claims));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let levels =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(levels.and(LogBudget::default())),
        )
        .init();
    let args = Args::parse_from(with_config_file(std::env::args_os().collect())?);
    if let Some(Tool::Token {
        auth_secret,
        room,
        name,
        moderator,
        ttl,
    }) = args.tool
    {
        mint(&auth_secret, room, name, moderator, ttl);
        return Ok(());
    }
    let limits = Limits {
        max_members_per_room: args.max_members,
        max_rooms: args.max_rooms,
        max_members: args.max_members_total,
        max_messages_per_second: args.max_messages_per_second,
        reconnect_grace_secs: u32::try_from(args.reconnect_grace).unwrap_or(u32::MAX),
        ..Limits::default()
    };
    let connections = ConnectionLimits {
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_messages_per_second_per_ip: args.max_messages_per_second_per_ip,
        ..ConnectionLimits::default()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(TlsIdentity::from_pem_files(cert, key)?)),
        _ => None,
    };
    if tls.is_none() && !args.insecure && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "{} is not a loopback address: give --tls-cert and --tls-key to serve wss://, \
             or --insecure to serve plain ws:// (readable by anyone on the network)",
            args.listen
        );
    }
    if let Some(range) = args.media_ports
        && (range.size() as usize) < limits.max_members
    {
        tracing::warn!(
            "--media-ports {}-{} has {} ports for up to {} members (--max-members-total): \
             members past the range get no media",
            range.first,
            range.last,
            range.size(),
            limits.max_members
        );
    }
    let server = conclave_server::start(ServerConfig {
        listen: args.listen,
        limits,
        connections,
        tls,
        origins: Origins {
            allowed: args.allowed_origins,
        },
        public_ip: args.public_ip,
        auth_secret: args.auth_secret,
        ice_tcp: args.ice_tcp,
        media_ports: args.media_ports,
        turn: match (args.turn_urls.is_empty(), args.turn_secret) {
            (false, Some(secret)) => Some(TurnConfig {
                urls: args.turn_urls,
                secret,
                ttl: std::time::Duration::from_secs(args.turn_ttl),
                relay_server_media: args.turn_relay_self,
            }),
            _ => None,
        },
    })
    .await?;
    // One machine-readable line, so scripts can find an ephemeral port.
    println!("{}", serde_json::json!({ "listening": server.url() }));
    tracing::info!("listening on {}", server.url());
    stop_requested().await?;
    tracing::info!("stopping: every meeting ends");
    server.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM (what `systemctl stop` and `docker stop` send).
async fn stop_requested() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
    }
}
