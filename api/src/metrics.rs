//! Prometheus metrics: request counts and latency by method, route and status class.
//!
//! Every label comes from a closed set, so no request can add a series: the method is one of
//! the known methods or `other`, the route is the matched route template (or `unmatched`),
//! and the status is its class (`2xx` … `5xx`). The number of series is bounded by
//! methods × routes × classes whatever clients send.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Counters shared by every worker.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(&'static str, String, &'static str), Series>>,
}

/// The method as a label: one of the methods HTTP defines, or `other`.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

/// The status as a label: its class.
pub fn status_label(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts one answer. `route` must be a route template of the server or `unmatched`,
    /// never a raw path.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = series
            .entry((method_label(method), route.to_owned(), status_label(status)))
            .or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, pool: persistence::PoolState) -> String {
        let series = self
            .series
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let _ = writeln!(out, "# HELP http_requests_total HTTP requests answered.");
        let _ = writeln!(out, "# TYPE http_requests_total counter");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(out, "http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}", s.count);
        }
        let _ = writeln!(
            out,
            "# HELP http_request_duration_seconds Time to answer HTTP requests."
        );
        let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
        for ((method, route, status), s) in series.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP db_pool_connections Database connections in the pool."
        );
        let _ = writeln!(out, "# TYPE db_pool_connections gauge");
        let _ = writeln!(out, "db_pool_connections{{state=\"open\"}} {}", pool.open);
        let _ = writeln!(out, "db_pool_connections{{state=\"idle\"}} {}", pool.idle);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        let metrics = Metrics::default();
        for i in 0..1000 {
            let method = format!("M{i}{}", "X".repeat(i % 50));
            metrics.observe(&method, "unmatched", 400 + (i % 200) as u16, Duration::ZERO);
        }
        let series = metrics.series.lock().unwrap();
        assert_eq!(series.len(), 2, "other × unmatched × {{4xx, 5xx}}");
        assert!(series.keys().all(|(m, _, _)| *m == "other"));
    }
}
