//! Query routes: Pyroscope's render and label APIs, and DeepFlow's `ProfileTracing`.

use crate::error::ApiError;
use crate::ingest::{now_ns, tenant};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use flamestream_store::query::{label_names, label_values, merge, timeline};
use flamestream_store::selector::{parse_matchers, Selector};
use flamestream_store::Reader;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Registers the query routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pyroscope/render", web::get().to(render))
        .route("/render", web::get().to(render))
        .route("/pyroscope/labels", web::get().to(labels))
        .route("/labels", web::get().to(labels))
        .route("/pyroscope/label-values", web::get().to(values))
        .route("/label-values", web::get().to(values))
        .route("/api/apps", web::get().to(apps))
        .route(
            "/v1/profile/ProfileTracing",
            web::post().to(deepflow_tracing),
        );
}

/// Parses `now`, `now-1h` (s, m, h, d, w), or a Unix time in s/ms/µs/ns, into ns.
///
/// # Errors
/// 400 naming the parameter.
pub fn parse_time(name: &str, text: &str, now: i64) -> Result<i64, ApiError> {
    let t = text.trim();
    let bad = || {
        ApiError::bad_request(
            "invalid_time",
            format!("`{name}` = `{text}` is invalid: use `now`, `now-1h` (s, m, h, d, w) or a Unix time"),
        )
    };
    if let Some(rest) = t.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now);
        }
        let rest = rest.strip_prefix('-').ok_or_else(bad)?;
        let (num, unit) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        return Ok(now - n * secs * 1_000_000_000);
    }
    flamestream_model::time::parse_unix_time_ns(t).map_err(|_| bad())
}

fn range(params: &BTreeMap<String, String>) -> Result<(i64, i64), ApiError> {
    let now = now_ns();
    let from = parse_time(
        "from",
        params.get("from").map_or("now-1h", String::as_str),
        now,
    )?;
    let until = parse_time(
        "until",
        params.get("until").map_or("now", String::as_str),
        now,
    )?;
    if until <= from {
        return Err(ApiError::bad_request(
            "invalid_time",
            "`until` must be after `from`",
        ));
    }
    Ok((from, until))
}

fn reader(state: &AppState) -> Result<Arc<dyn Reader>, ApiError> {
    state.reader.clone().ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            "this process does not run the query role",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::unavailable("overloaded", format!("query pool is busy: {e}"), 1))?
}

/// `GET /pyroscope/render?query=<type>{matchers}&from&until&maxNodes`.
async fn render(
    req: HttpRequest,
    params: web::Query<BTreeMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant(&req, &state)?;
    let params = params.into_inner();
    let query = params
        .get("query")
        .or_else(|| params.get("name"))
        .ok_or_else(|| ApiError::bad_request("missing_query", "`query` is required, e.g. `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"demo\"}`"))?;
    let selector = Selector::parse(query)
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let (from, until) = range(&params)?;
    let max_nodes: usize = match params.get("maxNodes").or_else(|| params.get("max-nodes")) {
        None => 1024,
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_max_nodes",
                format!("`maxNodes` = `{v}` is not a number"),
            )
        })?,
    };
    let reader = reader(&state)?;
    let body = blocking(move || {
        let merged = merge(reader.as_ref(), &tenant, &selector, from, until)?;
        let tl = timeline(reader.as_ref(), &merged.series, from, until)?;
        let fb = merged.tree.flamebearer(max_nodes);
        // The spy of the matched series, when they agree on one.
        let spies: std::collections::BTreeSet<&str> = merged
            .series
            .iter()
            .filter_map(|s| s.key.labels.get("pyroscope_spy"))
            .collect();
        let spy_name = if spies.len() == 1 {
            spies.into_iter().next().unwrap_or("")
        } else {
            ""
        };
        let pt = &selector.profile_type;
        let sample_rate = if pt.sample_unit == "nanoseconds" {
            1_000_000_000
        } else {
            100
        };
        Ok(json!({
            "version": 1,
            "flamebearer": fb,
            "metadata": {
                "format": "single",
                "units": pt.flamebearer_units(),
                "sampleRate": sample_rate,
                "name": pt.id(),
                "spyName": spy_name,
            },
            "timeline": {
                "startTime": tl.start_s,
                "samples": tl.samples,
                "durationDelta": tl.step_s,
            },
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

fn matchers(
    params: &BTreeMap<String, String>,
) -> Result<Vec<flamestream_store::selector::Matcher>, ApiError> {
    match params.get("query").or_else(|| params.get("match[]")) {
        None => Ok(Vec::new()),
        Some(q) => {
            let body = q.trim();
            let body = body
                .find('{')
                .map_or("", |i| body[i + 1..].trim_end_matches('}'));
            parse_matchers(body).map_err(|e| ApiError::bad_request("invalid_query", e))
        }
    }
}

/// `GET /pyroscope/labels`: label names.
async fn labels(
    req: HttpRequest,
    params: web::Query<BTreeMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant(&req, &state)?;
    let params = params.into_inner();
    let (from, until) = range(&params)?;
    let ms = matchers(&params)?;
    let reader = reader(&state)?;
    let names =
        blocking(move || Ok(label_names(reader.as_ref(), &tenant, &ms, from, until)?)).await?;
    Ok(HttpResponse::Ok().json(names))
}

/// `GET /pyroscope/label-values?label=NAME`: `__name__` gives profile type ids,
/// `service_name` the apps.
async fn values(
    req: HttpRequest,
    params: web::Query<BTreeMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant(&req, &state)?;
    let params = params.into_inner();
    let label = params
        .get("label")
        .or_else(|| params.get("name"))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_label",
                "`label` is required, e.g. `label=service_name`",
            )
        })?;
    let (from, until) = range(&params)?;
    let ms = matchers(&params)?;
    let reader = reader(&state)?;
    let vals = blocking(move || {
        Ok(label_values(
            reader.as_ref(),
            &tenant,
            &label,
            &ms,
            from,
            until,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(vals))
}

/// `GET /api/apps`: apps with their profile types (for the web UI).
async fn apps(
    req: HttpRequest,
    params: web::Query<BTreeMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant(&req, &state)?;
    let params = params.into_inner();
    let (from, until) = range(&params)?;
    let reader = reader(&state)?;
    let out = blocking(move || {
        let mut apps: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for s in reader.series(&tenant, from, until)? {
            apps.entry(s.key.service_name.clone())
                .or_default()
                .insert(s.key.profile_type.id());
        }
        Ok(apps
            .into_iter()
            .map(|(name, types)| json!({"name": name, "profileTypes": types}))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct TracingRequest {
    app_service: String,
    #[serde(default)]
    profile_event_type: String,
    #[serde(default)]
    profile_language_type: String,
    #[serde(default)]
    tag_filter: String,
    time_start: i64,
    time_end: i64,
}

/// Maps DeepFlow's `profile_event_type` (`cpu`, `inuse_space`, or a full type id) to a type id.
fn deepflow_type(event: &str) -> Result<String, ApiError> {
    if event.contains(':') {
        return Ok(event.to_string());
    }
    let event = if event.is_empty() || event == "on-cpu" {
        "cpu"
    } else {
        event
    };
    flamestream_model::profile_type::type_for_suffix(event, 100)
        .map(|t| t.profile_type.id())
        .map_err(|e| ApiError::bad_request("invalid_event_type", e.to_string()))
}

/// Parses DeepFlow's simple `tag_filter` (`k='v' AND k2="v2"`) into matchers.
fn deepflow_filter(filter: &str) -> String {
    filter
        .replace(" AND ", " and ")
        .split(" and ")
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
            Some(format!("{}=\"{}\"", k.trim(), v))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `POST /v1/profile/ProfileTracing`: DeepFlow's query contract.
async fn deepflow_tracing(
    req: HttpRequest,
    body: web::Json<TracingRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant(&req, &state)?;
    let r = body.into_inner();
    let type_id = deepflow_type(&r.profile_event_type)?;
    let mut filter = deepflow_filter(&r.tag_filter);
    if !filter.is_empty() {
        filter.push(',');
    }
    let language = match r.profile_language_type.as_str() {
        "Golang" | "golang" => Some("gospy"),
        "Java" | "java" => Some("javaspy"),
        "Python" | "python" => Some("pyspy"),
        "Ruby" | "ruby" => Some("rbspy"),
        "PHP" | "php" => Some("phpspy"),
        ".NET" | "dotnet" => Some("dotnetspy"),
        "Node" | "nodejs" | "node" => Some("nodespy"),
        _ => None,
    };
    let query = format!(
        "{type_id}{{{filter}service_name=\"{}\"{}}}",
        r.app_service.replace('"', "\\\""),
        language.map_or(String::new(), |l| format!(",pyroscope_spy=\"{l}\""))
    );
    let selector = Selector::parse(&query)
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let now = now_ns();
    let from = parse_time("time_start", &r.time_start.to_string(), now)?;
    let until = parse_time("time_end", &r.time_end.to_string(), now)?.max(from + 1);
    let reader = reader(&state)?;
    let app = r.app_service.clone();
    let result = blocking(move || {
        let merged = merge(reader.as_ref(), &tenant, &selector, from, until)?;
        let mut functions: Vec<String> = Vec::new();
        let mut function_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut function_values: Vec<[i64; 2]> = Vec::new();
        let mut node_values: Vec<[i64; 4]> = Vec::new();
        let mut node_ids: BTreeMap<usize, i64> = BTreeMap::new();
        merged.tree.walk(|node, parent, name, self_value, total| {
            let name = if parent.is_none() { app.as_str() } else { name };
            let f = *function_index.entry(name.to_string()).or_insert_with(|| {
                functions.push(name.to_string());
                function_values.push([0, 0]);
                functions.len() - 1
            });
            function_values[f][0] += self_value;
            function_values[f][1] += total;
            let parent_id = parent.and_then(|p| node_ids.get(&p).copied()).unwrap_or(-1);
            node_ids.insert(node, node_values.len() as i64);
            node_values.push([f as i64, parent_id, self_value, total]);
        });
        let function_types: Vec<&str> = functions.iter().map(|_| "U").collect();
        Ok(json!({
            "OPT_STATUS": "SUCCESS",
            "DESCRIPTION": "",
            "result": {
                "functions": functions,
                "function_types": function_types,
                "function_values": function_values,
                "node_values": node_values,
            },
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = 1_000_000 * 1_000_000_000;
        assert_eq!(
            parse_time("from", "now-1h", now).unwrap(),
            now - 3_600_000_000_000
        );
        assert_eq!(parse_time("from", "now", now).unwrap(), now);
        assert_eq!(
            parse_time("from", "1700000000", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time("from", "yesterday", now).is_err());
    }

    #[test]
    fn deepflow_filters_become_matchers() {
        assert_eq!(
            deepflow_filter("region='cn' AND env=\"dev\""),
            "region=\"cn\",env=\"dev\""
        );
        assert_eq!(
            deepflow_type("").unwrap(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
    }
}
