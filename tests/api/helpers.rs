use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::{Client, Response, StatusCode, redirect};
use tempfile::TempDir;

use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;
use targetym_integrations::domain::OrgId;
use targetym_integrations::startup::Application;

pub const PASSWORD: &str = "correct horse battery staple";
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0";

/// Every log line of the test binary, so tests can check that no secret was logged.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,hyper_util=info,rustls=info,reqwest=info,actix_server=info,actix_http=info")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buffer
    });
}

/// What every test has logged so far.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("logs captured").lock().unwrap()).into_owned()
}

pub struct TestApp {
    pub address: String,
    /// The METRICS_BIND_ADDR listener's address, when the test set one.
    pub metrics_address: Option<String>,
    pub client: Client,
    pub ctx: AppContext,
    /// DATABASE_URL of this test's database, for a second instance or the CLI.
    pub database_url: String,
    pub data_dir: std::path::PathBuf,
    _dir: TempDir,
    _schema: Option<PgSchema>,
}

/// A fresh PostgreSQL schema, dropped with the test.
pub struct PgSchema {
    admin_url: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

pub struct TestAppBuilder {
    vars: HashMap<String, String>,
    idle_timeout: Option<Duration>,
    extra_routes: fn(&mut actix_web::web::ServiceConfig),
}

impl TestAppBuilder {
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Routes that exist only in this test's app (e.g. one that panics).
    pub fn extra_routes(mut self, routes: fn(&mut actix_web::web::ServiceConfig)) -> Self {
        self.extra_routes = routes;
        self
    }

    pub async fn spawn(self) -> TestApp {
        capture_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, schema) = fresh_database(&dir);
        let mut vars = HashMap::from([
            (
                "DATA_DIR".to_owned(),
                dir.path().join("data").display().to_string(),
            ),
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("DB_POOL_SIZE".to_owned(), "4".to_owned()),
            // Tests drive the actor with run_due_work; one test runs the loop itself.
            ("WORKER_ENABLED".to_owned(), "false".to_owned()),
        ]);
        vars.extend(self.vars);
        let mut settings = Settings::from_vars(&vars).expect("test settings");
        if let Some(idle) = self.idle_timeout {
            settings.session_idle_timeout = idle;
        }
        let data_dir = settings.data_dir.clone();
        let app = Application::build_with_extra_routes(settings, self.extra_routes)
            .await
            .expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let ctx = app.context().clone();
        tokio::spawn(app.run());
        TestApp {
            address,
            metrics_address,
            client: browser(),
            ctx,
            database_url,
            data_dir,
            _dir: dir,
            _schema: schema,
        }
    }
}

pub fn app() -> TestAppBuilder {
    TestAppBuilder {
        vars: HashMap::new(),
        idle_timeout: None,
        extra_routes: |_| {},
    }
}

pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

pub fn fresh_database(dir: &TempDir) -> (String, Option<PgSchema>) {
    match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        None => (dir.path().join("test.sqlite3").display().to_string(), None),
        Some(admin_url) => {
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL reachable");
            conn.batch_execute(&format!("CREATE SCHEMA {name}"))
                .expect("create schema");
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{sep}options=-csearch_path%3D{name}");
            (url, Some(PgSchema { admin_url, name }))
        }
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .cookie_store(true)
        .user_agent(USER_AGENT)
        .build()
        .expect("client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_with(&self.client, path).await
    }

    pub async fn get_with(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn head(&self, path: &str) -> Response {
        self.client.head(self.url(path)).send().await.expect("HEAD")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_form_with(&self.client, path, form).await
    }

    pub async fn post_form_with(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Response {
        client.post(self.url(path)).form(form).send().await.expect("POST")
    }

    /// The CSRF token a page of this client's session carries.
    pub async fn csrf_with(&self, client: &Client, path: &str) -> String {
        let html = self.get_with(client, path).await.text().await.unwrap();
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf token on {path}"))
    }

    /// Runs first-run setup from this app's client (which ends signed in).
    pub async fn setup(&self, org: &str, email: &str) -> Response {
        let csrf = self.csrf_with(&self.client, "/setup").await;
        self.post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("org_name", org),
                ("email", email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await
    }

    pub async fn login_with(&self, client: &Client, email: &str, password: &str) -> Response {
        let csrf = self.csrf_with(client, "/login").await;
        self.post_form_with(
            client,
            "/login",
            &[("csrf_token", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// An organization with a signed-in admin in a fresh client.
    pub async fn signed_in_admin(&self, org: &str, email: &str) -> Client {
        let input =
            targetym_integrations::accounts::NewAdminInput::parse(org, email, PASSWORD.to_owned().into())
                .expect("valid admin");
        targetym_integrations::accounts::create_admin(&self.ctx.db, input, true)
            .await
            .expect("admin created");
        let client = browser();
        let res = self.login_with(&client, email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
        client
    }
}

impl TestApp {
    /// The organization of the admin with this email.
    pub async fn org_of(&self, email: &str) -> OrgId {
        let email = email.to_owned();
        let user = self
            .ctx
            .db
            .run(move |conn| targetym_integrations::db::orgs::find_user_by_email(conn, &email))
            .await
            .unwrap()
            .expect("an admin with this email");
        user.org_id
    }

    /// A new service token of the organization, called `name`, with every scope.
    pub async fn service_token(&self, org: OrgId, name: &str) -> String {
        targetym_integrations::api_tokens::create(
            &self.ctx.db,
            org,
            name,
            &targetym_integrations::domain::Actor::system(),
            &[],
        )
        .await
        .unwrap()
        .1
    }

    /// The user id of the admin with this email.
    pub async fn user_id_of(&self, email: &str) -> targetym_integrations::domain::UserId {
        let email = email.to_owned();
        self.ctx
            .db
            .run(move |conn| targetym_integrations::db::orgs::find_user_by_email(conn, &email))
            .await
            .unwrap()
            .expect("an admin with this email")
            .id
    }

    /// The audit events of `kind` (oldest first): (actor, source, detail).
    pub async fn audit_events_of(&self, kind: &str) -> Vec<(String, Option<String>, String)> {
        use diesel::prelude::*;
        use targetym_integrations::db::schema::audit_events as a;
        let kind = kind.to_owned();
        self.ctx
            .db
            .run(move |conn| {
                Ok(a::table
                    .filter(a::kind.eq(&kind))
                    .order((a::created_at, a::seq))
                    .select((a::actor, a::source, a::detail))
                    .load(conn)?)
            })
            .await
            .unwrap()
    }

    /// An integration's status column.
    pub async fn integration_status(&self, id: &str) -> String {
        use diesel::prelude::*;
        use targetym_integrations::db::schema::integrations;
        let id = id.to_owned();
        self.ctx
            .db
            .run(move |conn| {
                Ok(integrations::table
                    .find(&id)
                    .select(integrations::status)
                    .first(conn)?)
            })
            .await
            .unwrap()
    }

    /// What htmx gets for a GET from this browser.
    pub async fn htmx_get(&self, client: &Client, path: &str) -> String {
        client
            .get(self.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

pub fn location(res: &Response) -> &str {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub fn set_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
