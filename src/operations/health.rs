//! `healthcheck`: one plain HTTP/1.0 GET of /readyz (no TLS, no client library): it asks the
//! instance on this host, as a container's HEALTHCHECK does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// The `healthcheck` command: asks `url`, or /readyz on BIND_ADDR's port, and returns the exit
/// code: 0 when it answers 200, 1 otherwise (Docker's HEALTHCHECK convention; 2 is reserved).
pub fn healthcheck_command(url: Option<&str>) -> u8 {
    let url = match url {
        Some(url) => url.to_owned(),
        None => match crate::config::Settings::from_env() {
            Ok(settings) => readyz_url(&settings.bind_addr),
            Err(e) => {
                eprintln!("not ready: {e}");
                return 1;
            }
        },
    };
    match healthcheck(&url) {
        Ok(()) => {
            println!("ready: {url}");
            0
        }
        Err(e) => {
            eprintln!("not ready: {e}");
            1
        }
    }
}

/// The /readyz of the instance listening on `bind_addr` (an unspecified address is asked on
/// loopback).
pub fn readyz_url(bind_addr: &str) -> String {
    match bind_addr.parse::<SocketAddr>() {
        Ok(SocketAddr::V4(a)) if a.ip().is_unspecified() => format!("http://127.0.0.1:{}/readyz", a.port()),
        Ok(SocketAddr::V6(a)) if a.ip().is_unspecified() => format!("http://[::1]:{}/readyz", a.port()),
        _ => format!("http://{bind_addr}/readyz"),
    }
}

/// Ok when `url` answers 200; otherwise what it answered, or why it could not be asked.
pub fn healthcheck(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "{url}: the health check speaks plain http to this host's listener"
        ));
    }
    let addrs = parsed
        .socket_addrs(|| Some(80))
        .map_err(|e| format!("cannot resolve {url}: {e}"))?;
    let mut stream = addrs
        .iter()
        .find_map(|addr| TcpStream::connect_timeout(addr, TIMEOUT).ok())
        .ok_or_else(|| format!("nothing answers at {url}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let host = &parsed[url::Position::BeforeHost..url::Position::AfterPort];
    let path = &parsed[url::Position::BeforePath..url::Position::AfterQuery];
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: targetym-integrations-healthcheck\r\n\r\n"
    )
    .map_err(|e| format!("{url}: {e}"))?;
    let mut status_line = String::new();
    BufReader::new(stream.take(1024))
        .read_line(&mut status_line)
        .map_err(|e| format!("{url}: {e}"))?;
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(format!("{url} answered {status}")),
        None => Err(format!("{url} gave no HTTP answer")),
    }
}
