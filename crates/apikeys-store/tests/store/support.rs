use apikeys_store::{
    AccountId, Actor, ClientId, ClientSecret, Database, DatabaseUrl, DisplayName, Email,
    HashingParams, NewKey, PoolOptions, SecretHasher, Store,
};
pub use apikeys_test_support::{Backend, TestDatabase};

/// Generates `sqlite::NAME` and `postgres::NAME` tests from `async fn NAME(backend: Backend)`.
#[macro_export]
macro_rules! store_test_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(apikeys_postgres_tests), ignore = "set APIKEYS_TEST_POSTGRES_URL to run")]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}

pub struct TestStore {
    pub store: Store,
    _database: TestDatabase,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub async fn migrated_store(backend: Backend) -> TestStore {
    let database = TestDatabase::new(backend).await;
    let url = DatabaseUrl::parse(database.url()).expect("test url parses");
    let db = Database::connect(&url, &PoolOptions::default()).expect("pool builds");
    db.migrate().await.expect("migrations apply");
    TestStore {
        store: Store::new(db),
        _database: database,
    }
}

pub fn account(id: &str) -> AccountId {
    AccountId::parse("account_id", id).expect("valid account id")
}

pub fn actor() -> Actor {
    Actor::new("user-1")
}

pub fn cheap_hasher() -> SecretHasher {
    SecretHasher::new(HashingParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .expect("valid params")
}

pub fn new_key(account_id: &AccountId, email: &str) -> (NewKey, ClientSecret) {
    let secret = ClientSecret::generate();
    let key = NewKey {
        account_id: account_id.clone(),
        client_id: ClientId::generate(),
        email: Email::parse("email", email).expect("valid email"),
        display_name: DisplayName::default(),
        secret_hash: cheap_hasher().hash(&secret).expect("hash"),
        created_by: actor(),
    };
    (key, secret)
}

pub async fn enabled_account(store: &Store, id: &str) -> AccountId {
    let account_id = account(id);
    store
        .set_api_access(&account_id, true, &actor())
        .await
        .expect("enable access");
    account_id
}
