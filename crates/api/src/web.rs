//! The web UI, as built by Vite into `web/dist`: the one screen (一屏可视) at `/`, the staff
//! console at `/console`, the resident's phone page at `/m`, and their hashed assets under
//! `/assets/`. The pages read everything through the public API like any other client; this module
//! only hands out files. When no built UI is found, `/` shows the plain start page of [`crate::home`]
//! with the command that builds it.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{AppError, AppState};

/// The pages and the file each one is.
const PAGES: [(&str, &str); 3] = [
    ("/", "index.html"),
    ("/console", "console.html"),
    ("/m", "m.html"),
];

/// What the pages may load: only our own origin (no map tiles, fonts or scripts from elsewhere;
/// images also from `data:`/`blob:` for photo previews). ECharts sets inline styles.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Whether `dir` holds a built UI (its `index.html`).
pub fn is_built(dir: &Path) -> bool {
    dir.join("index.html").is_file()
}

/// The first of `candidates` that holds a built UI.
pub fn find(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|d| is_built(d)).cloned()
}

/// The UI's routes: the pages from `dir` when it is set, else the start page.
pub(crate) fn routes(dir: Option<&Path>) -> Router<AppState> {
    let Some(dir) = dir else {
        return Router::new().route("/", get(crate::home::home));
    };
    let mut router = Router::new();
    for (path, file) in PAGES {
        let file = dir.join(file);
        router = router.route(path, get(move || page(file.clone())));
    }
    // Asset names carry a content hash, so a browser may keep them for good.
    let assets = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .service(ServeDir::new(dir.join("assets")));
    router.nest_service("/assets", assets)
}

/// One page, read from disk on each request (they are small, and a rebuilt UI shows at once).
async fn page(file: PathBuf) -> Result<Response, AppError> {
    let html = tokio::fs::read_to_string(&file).await.map_err(|e| {
        tracing::warn!(file = %file.display(), error = %e, "web UI page missing");
        AppError::NotFound("页面未构建 / page not built: run `npm --prefix web run build`".into())
    })?;
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_built_directory() {
        let empty = tempfile::tempdir().unwrap();
        let built = tempfile::tempdir().unwrap();
        std::fs::write(built.path().join("index.html"), "<!doctype html>").unwrap();
        let candidates = [
            empty.path().to_path_buf(),
            built.path().to_path_buf(),
            PathBuf::from("/nonexistent"),
        ];
        assert_eq!(find(&candidates).as_deref(), Some(built.path()));
        assert_eq!(find(&candidates[..1]), None);
    }
}
