//! The load tool: drives `sendSms` over HTTP with N concurrent clients against a running smsgate
//! and prints accepted messages per second, p50/p99 latency and the server's peak RSS.
//!
//! ```text
//! cargo bench --bench load -- --url http://127.0.0.1:8080 --token $SMSGATE_ADMIN_TOKEN \
//!     --clients 50 --seconds 10 [--pid <smsgate pid>] [--rest]
//! ```
//! `scripts/load` starts a release smsgate on a temporary data dir and runs this against it.

use hdrhistogram::Histogram;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

struct Options {
    url: String,
    token: String,
    clients: usize,
    seconds: u64,
    pid: Option<u32>,
    rest: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        url: "http://127.0.0.1:8080".into(),
        token: std::env::var("SMSGATE_ADMIN_TOKEN").unwrap_or_default(),
        clients: 50,
        seconds: 10,
        pid: None,
        rest: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => o.url = value("--url")?,
            "--token" => o.token = value("--token")?,
            "--clients" => {
                o.clients = value("--clients")?
                    .parse()
                    .map_err(|e| format!("--clients: {e}"))?
            }
            "--seconds" => {
                o.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--pid" => o.pid = Some(value("--pid")?.parse().map_err(|e| format!("--pid: {e}"))?),
            "--rest" => o.rest = true,
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Peak resident set size of a process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

const MUTATION: &str =
    "mutation($input: SendSmsInput!) { sendSms(input: $input) { message { id status } } }";

#[tokio::main]
async fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.clients)
        .build()
        .unwrap_or_else(|e| panic!("http client: {e}"));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let client = client.clone();
        let errors = errors.clone();
        let (url, token, rest) = (o.url.clone(), o.token.clone(), o.rest);
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .unwrap_or_else(|e| panic!("histogram: {e}"));
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let to = format!("+4075{:07}", (c as u64 * 1_000_003 + n) % 10_000_000);
                let body = format!("Codul tau este {:06}", n % 1_000_000);
                let t0 = Instant::now();
                let response = if rest {
                    client
                        .post(format!("{url}/internal/sms/send"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"phone_number": to, "message": body, "message_type": "otp"}))
                        .send()
                        .await
                } else {
                    client
                        .post(format!("{url}/graphql"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({
                            "query": MUTATION,
                            "variables": {"input": {"to": to, "body": body, "type": "OTP"}}
                        }))
                        .send()
                        .await
                };
                let ok = match response {
                    Ok(r) if r.status().is_success() => match r.text().await {
                        Ok(text) => !text.contains("\"errors\""),
                        Err(_) => false,
                    },
                    _ => false,
                };
                let micros = t0.elapsed().as_micros() as u64;
                if ok {
                    let _ = hist.record(micros.max(1));
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            hist
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .unwrap_or_else(|e| panic!("histogram: {e}"));
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = total.add(h);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = total.len();
    println!("clients:            {}", o.clients);
    println!("duration:           {elapsed:.1} s");
    println!("accepted:           {accepted}");
    println!("errors:             {}", errors.load(Ordering::Relaxed));
    println!("accepted/s:         {:.0}", accepted as f64 / elapsed);
    println!(
        "latency p50:        {:.2} ms",
        total.value_at_quantile(0.50) as f64 / 1000.0
    );
    println!(
        "latency p99:        {:.2} ms",
        total.value_at_quantile(0.99) as f64 / 1000.0
    );
    println!("latency max:        {:.2} ms", total.max() as f64 / 1000.0);
    if let Some(pid) = o.pid {
        match peak_rss_kib(pid) {
            Some(kib) => println!("server peak RSS:    {:.1} MB", kib as f64 / 1024.0),
            None => println!("server peak RSS:    unknown (no /proc/{pid})"),
        }
    }
}
