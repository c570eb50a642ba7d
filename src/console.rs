//! The web console (`console/`): its built files (`console/dist`, made by `npm run build`
//! there and committed) embedded in the binary and served at `/`, so a serve needs nothing
//! else and fetches nothing from anywhere. The console is a client of the documented HTTP API
//! only: it signs in with an API token and asks `/v1/whoami` what that token may see.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[derive(rust_embed::Embed)]
#[folder = "console/dist"]
struct Built;

/// What the console's page may load and talk to: itself and this serve, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's routes: the page at `/`, its files under `/assets/`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&format!("assets/{file}"), &headers)
            }),
        )
}

/// One built file, with its type, an ETag (its SHA-256) and how long it may be cached: the
/// page never without asking (it names the current assets), the assets for a year (their
/// names change with their content).
fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Built::get(path) else {
        let body = serde_json::json!({"error": "not_found", "reason": format!("no console file '{path}'")});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cache = if path == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let mut headers = HeaderMap::new();
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, &etag);
    set(header::CACHE_CONTROL, cache);
    set(header::CONTENT_TYPE, file.metadata.mimetype());
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, file.data.into_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_console_is_embedded_and_names_only_files_it_embeds() {
        let page = Built::get("index.html").expect("console/dist/index.html is embedded");
        let page = String::from_utf8(page.data.into_owned()).unwrap();
        let assets: Vec<&str> = page
            .split('"')
            .filter(|part| part.starts_with("/assets/"))
            .collect();
        assert!(
            assets.len() >= 2,
            "the page loads its script and styles: {page}"
        );
        for asset in assets {
            assert!(
                Built::get(&asset[1..]).is_some(),
                "{asset} is named by the page but not embedded"
            );
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
