//! `GET /` when the web UI is not built: a plain start page that says what is running, where the
//! API is, and how to build the UI (the one screen, the console and the phone page; see `web`).

use axum::response::Html;

/// The start page. It reads everything it shows from the public API, like any client.
pub(crate) async fn home() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>万象 Wanxiang</title>
<style>
 body { font-family: system-ui, "Noto Sans CJK SC", sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #1d2733; }
 h1 { margin-bottom: 0; } .en { color: #5b6b7c; } code { background: #eef2f6; padding: 0 .25rem; }
 li { margin: .2rem 0; } #status { padding: .5rem .75rem; background: #eef6ee; border-radius: .25rem; }
</style>
</head>
<body>
<h1>万象 <span class="en">Wanxiang</span></h1>
<p>城市操作系统 <span class="en">— a city operating system</span></p>
<p id="status">正在读取状态… <span class="en">reading status…</span></p>
<p>网页界面尚未构建：运行 <code>scripts/web</code> 后重启 <span class="en">— the web UI is not built: run <code>scripts/web</code> and restart</span></p>
<h2>街道 <span class="en">Streets</span></h2>
<ul id="streets"></ul>
<h2>接口 <span class="en">API</span></h2>
<ul>
 <li><a href="/api/v1/openapi.json">/api/v1/openapi.json</a> — OpenAPI 3 文档 <span class="en">document</span></li>
 <li><a href="/api/v1/units?depth=2">/api/v1/units</a> — 行政区划树 <span class="en">unit tree</span></li>
 <li><a href="/api/v1/locate?lon=114.118&amp;lat=22.548">/api/v1/locate?lon=&amp;lat=&amp;crs=</a> — 坐标定位 <span class="en">locate a point (wgs84, gcj02, bd09)</span></li>
 <li><a href="/readyz">/readyz</a>, <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a></li>
</ul>
<script>
fetch('/readyz').then(r => r.json()).then(s => {
  const el = document.getElementById('status');
  if (s.error) { el.textContent = s.error.message; return; }
  el.textContent = `运行中 running · ${s.backend} · ${s.units} 个单位 units` + (s.demo ? ' · 演示数据 demo data (边界为合成 synthetic boundaries)' : '');
});
fetch('/api/v1/units?depth=1').then(r => r.json()).then(tree => {
  const ul = document.getElementById('streets');
  for (const d of tree) for (const s of d.children) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '/api/v1/units/' + s.code; a.textContent = `${s.name} ${s.code}`;
    li.appendChild(a); ul.appendChild(li);
  }
});
</script>
</body>
</html>
"#;
