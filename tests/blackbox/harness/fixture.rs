//! The common starting point: a server, account `acme` with API access enabled, and one
//! "sentinel" key whose survival proves bad requests left the data intact.

use apikeys_proto::pb::CreateKeyResponse;
use apikeys_test_support::Backend;

use super::api::Api;
use super::server::TestServer;
use super::tokens::Tokens;

pub struct Fixture {
    pub server: TestServer,
    /// `acme`, enabled.
    pub account: String,
    /// Owner of `acme`.
    pub owner: String,
    pub staff: String,
    pub gateway: String,
    pub sentinel_id: String,
    pub sentinel_secret: String,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        Self::with_server(TestServer::start(backend).await).await
    }

    pub async fn with_server(server: TestServer) -> Self {
        let tokens = server.tokens();
        let account = "acme".to_owned();
        let owner = tokens.owner(&account);
        let staff = tokens.staff();
        let gateway = tokens.gateway();
        server
            .api()
            .set_api_access(&staff, &account, true)
            .await
            .unwrap_or_else(|s| panic!("enable {account}: {s:?}"));
        let sentinel = server
            .api()
            .create_key(&owner, &account, "sentinel@acme.test")
            .await
            .unwrap_or_else(|s| panic!("create sentinel key: {s:?}"));
        let sentinel_id = sentinel.key.expect("CreateKey returns the key").client_id;
        Self {
            server,
            account,
            owner,
            staff,
            gateway,
            sentinel_id,
            sentinel_secret: sentinel.client_secret,
        }
    }

    pub fn api(&self) -> &Api {
        self.server.api()
    }

    pub fn tokens(&self) -> &Tokens {
        self.server.tokens()
    }

    /// Creates another key in `acme`.
    pub async fn create_key(&self, email: &str) -> CreateKeyResponse {
        self.api()
            .create_key(&self.owner, &self.account, email)
            .await
            .unwrap_or_else(|s| panic!("CreateKey {email}: {s:?}"))
    }

    /// Enables API access for another account and returns its owner's token.
    pub async fn enabled_account(&self, account: &str) -> String {
        self.api()
            .set_api_access(&self.staff, account, true)
            .await
            .unwrap_or_else(|s| panic!("enable {account}: {s:?}"));
        self.tokens().owner(account)
    }

    /// The server still runs and answers, and the sentinel key still works and is listed.
    pub async fn assert_intact(&mut self) {
        self.server.assert_running();
        let introspection = self
            .api()
            .introspect(&self.gateway, &self.sentinel_id, &self.sentinel_secret)
            .await
            .unwrap_or_else(|s| panic!("introspect sentinel: {s:?}"));
        assert!(introspection.active, "sentinel key no longer active");
        assert_eq!(introspection.client_id, self.sentinel_id);
        let listed = self
            .api()
            .active_client_ids(&self.owner, &self.account)
            .await;
        assert!(
            listed.contains(&self.sentinel_id),
            "sentinel key no longer listed: {listed:?}"
        );
        let account = self
            .api()
            .get_account(&self.staff, &self.account)
            .await
            .unwrap_or_else(|s| panic!("GetAccount: {s:?}"));
        assert!(account.api_access_enabled, "acme lost API access");
    }
}
