//! Following a sequence stage by stage, task by task (`--watch`).
//!
//! The watcher reads the events of the Keptn context from the datastore and prints each new one
//! once: on a terminal with a status line that is redrawn in place, otherwise as plain lines. It
//! stops when every sequence of the context has finished and nothing new arrived for a moment
//! (chained stages start a moment after the previous stage finished).

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keptn_sdk::api::EventQueryParams;
use keptn_sdk::client::ApiClient;
use keptn_sdk::event::{EventType, KeptnEvent, Phase};

const POLL: Duration = Duration::from_millis(300);
const SETTLE: Duration = Duration::from_millis(1500);

/// How a followed sequence ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `<stage>.<sequence>` -> (result, status) of its `.finished` event.
    pub finished: BTreeMap<String, (String, String)>,
}

impl Outcome {
    /// No sequence failed or errored.
    pub fn succeeded(&self) -> bool {
        self.finished
            .values()
            .all(|(result, status)| result != "fail" && status != "errored")
    }
}

/// Parses `30s`, `10m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("{s:?} is not a duration such as 30s, 10m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("{s:?} is not a duration such as 30s, 10m or 1h"),
    };
    Ok(Duration::from_secs(secs))
}

/// Follows the sequence of `context` until it is done or `limit` passed.
pub async fn follow(
    client: &ApiClient,
    project: &str,
    context: &str,
    limit: Duration,
) -> anyhow::Result<Outcome> {
    follow_with(client, project, context, limit, &|_| true, true).await
}

/// [`follow`], printing only the events `show` accepts, and the closing lines ("Sequence X
/// finished: ...") only with `closing_lines`.
pub async fn follow_with(
    client: &ApiClient,
    project: &str,
    context: &str,
    limit: Duration,
    show: &(dyn Fn(&KeptnEvent) -> bool + Sync),
    closing_lines: bool,
) -> anyhow::Result<Outcome> {
    let terminal = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut open: HashSet<String> = HashSet::new();
    let mut outcome = Outcome::default();
    let mut last_news = Instant::now();
    let mut status = String::from("waiting for the first event");
    loop {
        let events = context_events(client, project, context).await?;
        for event in events {
            if !seen.insert(event.id.clone()) {
                continue;
            }
            last_news = Instant::now();
            if let EventType::Sequence {
                stage,
                sequence,
                phase,
            } = &event.event_type
            {
                let key = format!("{stage}.{sequence}");
                match phase {
                    Phase::Triggered => {
                        open.insert(key);
                    }
                    Phase::Finished => {
                        open.remove(&key);
                        let result = event.data_str("result").unwrap_or("").to_owned();
                        let status = event.data_str("status").unwrap_or("").to_owned();
                        outcome.finished.insert(key, (result, status));
                    }
                    _ => {}
                }
            }
            if !show(&event) {
                continue;
            }
            let line = describe(&event);
            if terminal {
                print!("\r\x1b[K");
            }
            println!("{line}");
            status = line;
        }
        let done = !seen.is_empty() && open.is_empty() && last_news.elapsed() >= SETTLE;
        if terminal {
            print!(
                "\r\x1b[K{} {} ({}s)",
                spinner(started.elapsed()),
                status,
                started.elapsed().as_secs()
            );
            let _ = std::io::stdout().flush();
        }
        if done {
            break;
        }
        if started.elapsed() > limit {
            if terminal {
                println!();
            }
            bail!(
                "the sequence of context {context} did not finish within {}s",
                limit.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    if terminal {
        print!("\r\x1b[K");
    }
    if closing_lines {
        for (sequence, (result, status)) in &outcome.finished {
            println!("Sequence {sequence} finished: result {result}, status {status}");
        }
    }
    Ok(outcome)
}

fn spinner(elapsed: Duration) -> char {
    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
    FRAMES[(elapsed.as_millis() / 150) as usize % FRAMES.len()]
}

/// Every event of a Keptn context, oldest first.
pub async fn context_events(
    client: &ApiClient,
    project: &str,
    context: &str,
) -> anyhow::Result<Vec<KeptnEvent>> {
    let mut all = Vec::new();
    let mut key = None;
    loop {
        let page = client
            .events(&EventQueryParams {
                keptn_context: Some(context.to_owned()),
                project: Some(project.to_owned()),
                page_size: Some(100),
                next_page_key: key.clone(),
                ..EventQueryParams::default()
            })
            .await?;
        all.extend(page.events);
        match page.next_page_key {
            Some(next) if !next.is_empty() && next != "0" => key = Some(next),
            _ => break,
        }
    }
    all.sort_by_key(|e| e.time);
    Ok(all)
}

/// One line for an event: stage, task, phase, and what matters of its data.
pub fn describe(event: &KeptnEvent) -> String {
    let stage = event.stage().unwrap_or("-");
    let mut line = match &event.event_type {
        EventType::Sequence {
            stage,
            sequence,
            phase,
        } => format!("[{stage}] sequence {sequence} {phase}"),
        EventType::Task { task, phase } => format!("[{stage}] {task} {phase}"),
        EventType::Other(t) => format!("[{stage}] {t}"),
    };
    if event.event_type.phase() == Some(Phase::Finished) {
        let result = event.data_str("result").unwrap_or("");
        let status = event.data_str("status").unwrap_or("");
        line.push_str(&format!(": result {result}, status {status}"));
        if let Some(score) = event
            .data
            .get("evaluation")
            .and_then(|e| e.get("score"))
            .and_then(|s| s.as_f64())
        {
            line.push_str(&format!(", score {score:.2}"));
        }
        if let Some(message) = event.data_str("message").filter(|m| !m.is_empty()) {
            line.push_str(&format!(" ({message})"));
        }
        if let Some(results) = event
            .data
            .get("evaluation")
            .and_then(|e| e.get("indicatorResults"))
            .and_then(|r| r.as_array())
        {
            for r in results {
                let metric = r
                    .pointer("/value/metric")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let value = r.pointer("/value/value").and_then(|v| v.as_f64());
                let criteria: Vec<&str> = r
                    .get("passTargets")
                    .and_then(|t| t.as_array())
                    .map(|t| t.iter().filter_map(|c| c["criteria"].as_str()).collect())
                    .unwrap_or_default();
                let status = r.get("status").and_then(|s| s.as_str()).unwrap_or("");
                let score = r.get("score").and_then(|s| s.as_f64()).unwrap_or(0.0);
                line.push_str(&format!(
                    "\n      SLI {metric}: value {}, pass criteria {}, {status}, score {score}",
                    value.map_or("n/a".to_owned(), |v| format!("{v:.2}")),
                    if criteria.is_empty() {
                        "none".to_owned()
                    } else {
                        criteria.join(" ")
                    }
                ));
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
    }
}
