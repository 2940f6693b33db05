//! ListAuditEvents: the account's audit trail, newest first, for the owner and admins of that
//! account under ListKeys' rules, paged with tokens of its own. Changes made with `apikeys
//! accounts` name the OS user who ran the command.

use std::collections::HashSet;

use apikeys_proto::pb::{AuditAction, AuditEvent};
use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, apikeys, assert_code, assert_invalid_argument};

backend_suite!(
    changes_are_listed_newest_first_with_actor_and_key,
    pages_walk_the_whole_trail_once,
    default_page_size_is_50,
    only_owner_and_admin_of_the_account_read_the_trail,
    bad_page_size_and_tokens_are_invalid_argument,
    unknown_account_has_an_empty_trail_like_list_keys,
    cli_changes_name_the_os_user_whatever_user_says,
);

/// `(action, actor, client_id)` of each event, in the order listed.
fn summary(events: &[AuditEvent]) -> Vec<(AuditAction, String, String)> {
    events
        .iter()
        .map(|e| (e.action(), e.actor.clone(), e.client_id.clone()))
        .collect()
}

/// Every page of `account`'s trail with `page_size`, read by `token`.
async fn walk(
    fixture: &Fixture,
    token: &str,
    account: &str,
    page_size: i32,
) -> Vec<Vec<AuditEvent>> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = fixture
            .api()
            .list_audit_events(token, account, page_size, &page_token)
            .await
            .unwrap_or_else(|s| panic!("ListAuditEvents page {}: {s:?}", pages.len() + 1));
        pages.push(page.audit_events);
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "pagination does not end");
        page_token = page.next_page_token;
    }
}

/// Switches `acme`'s API access off and on again `times` times: two cheap events each.
async fn toggle_access(fixture: &Fixture, times: usize) {
    for _ in 0..times {
        for enabled in [false, true] {
            fixture
                .api()
                .set_api_access(&fixture.staff, &fixture.account, enabled)
                .await
                .unwrap_or_else(|s| panic!("SetApiAccess {enabled}: {s:?}"));
        }
    }
}

async fn changes_are_listed_newest_first_with_actor_and_key(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let account = &fixture.account;
    let admin = fixture.tokens().admin(account);
    let created = api
        .create_key(&admin, account, "ops@acme.test")
        .await
        .expect("CreateKey by the admin")
        .key
        .expect("key");
    let revoked = api
        .revoke_key(&fixture.owner, account, &created.client_id)
        .await
        .expect("RevokeKey by the owner")
        .key
        .expect("key");
    toggle_access(&fixture, 1).await;

    let page = api
        .list_audit_events(&admin, account, 0, "")
        .await
        .expect("ListAuditEvents by the admin");
    assert!(page.next_page_token.is_empty());
    let (staff, owner) = ("staff-ops".to_owned(), "owner-acme".to_owned());
    let (key, sentinel, none) = (
        created.client_id.clone(),
        fixture.sentinel_id.clone(),
        String::new(),
    );
    assert_eq!(
        summary(&page.audit_events),
        [
            (AuditAction::ApiAccessEnabled, staff.clone(), none.clone()),
            (AuditAction::ApiAccessDisabled, staff.clone(), none.clone()),
            (AuditAction::KeyRevoked, owner.clone(), key.clone()),
            (AuditAction::KeyCreated, "admin-acme".to_owned(), key),
            (AuditAction::KeyCreated, owner, sentinel),
            (AuditAction::ApiAccessEnabled, staff, none),
        ]
    );
    assert!(page.audit_events.iter().all(|e| &e.account_id == account));
    let time = |e: &AuditEvent| {
        let t = e.create_time.expect("create_time");
        (t.seconds, t.nanos)
    };
    assert!(
        page.audit_events
            .windows(2)
            .all(|pair| time(&pair[0]) >= time(&pair[1])),
        "create_time increases somewhere"
    );
    // The events carry the times the change itself recorded.
    assert_eq!(page.audit_events[2].create_time, revoked.revoke_time);
    assert_eq!(page.audit_events[3].create_time, created.create_time);
    // The owner reads the same trail; nothing in it resembles a secret or its hash.
    let by_owner = api
        .list_audit_events(&fixture.owner, account, 0, "")
        .await
        .expect("ListAuditEvents by the owner");
    assert_eq!(by_owner, page);
    let text = format!("{page:?}");
    assert!(!text.contains(&fixture.sentinel_secret) && !text.contains("aks_"));
    assert!(!text.contains("argon2"));
}

async fn pages_walk_the_whole_trail_once(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    fixture.create_key("second@acme.test").await;
    toggle_access(&fixture, 5).await;
    // enable + 2 creations + 10 toggles.
    let everything = fixture
        .api()
        .list_audit_events(&fixture.owner, &fixture.account, 1000, "")
        .await
        .expect("one page of everything");
    assert_eq!(everything.audit_events.len(), 13);
    assert!(everything.next_page_token.is_empty());

    let pages = walk(&fixture, &fixture.owner, &fixture.account, 4).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 4, 1]);
    let walked: Vec<AuditEvent> = pages.into_iter().flatten().collect();
    assert_eq!(
        walked, everything.audit_events,
        "the walk differs from one page"
    );
    let unique: HashSet<String> = walked.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(unique.len(), walked.len(), "duplicate events across pages");

    // Events after the first page was read do not disturb the rest of the walk.
    let first = fixture
        .api()
        .list_audit_events(&fixture.owner, &fixture.account, 4, "")
        .await
        .expect("first page");
    toggle_access(&fixture, 1).await;
    let second = fixture
        .api()
        .list_audit_events(&fixture.owner, &fixture.account, 4, &first.next_page_token)
        .await
        .expect("second page");
    assert_eq!(second.audit_events, walked[4..8]);
}

async fn default_page_size_is_50(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    toggle_access(&fixture, 26).await;
    let pages = walk(&fixture, &fixture.owner, &fixture.account, 0).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 4], "enable + sentinel + 52 toggles");
}

async fn only_owner_and_admin_of_the_account_read_the_trail(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let account = &fixture.account;
    let tokens = fixture.tokens();
    let globex_owner = fixture.enabled_account("globex").await;
    for (who, token) in [
        ("a member", tokens.member(account)),
        ("globex's owner", globex_owner.clone()),
        ("globex's admin", tokens.admin("globex")),
        ("staff", fixture.staff.clone()),
        ("the gateway", fixture.gateway.clone()),
    ] {
        assert_code(
            api.list_audit_events(&token, account, 0, "").await,
            Code::PermissionDenied,
            &format!("ListAuditEvents of acme by {who}"),
        );
    }
    // Globex's owner reads globex's trail, which holds none of acme's events.
    let globex = api
        .list_audit_events(&globex_owner, "globex", 0, "")
        .await
        .expect("ListAuditEvents of globex by its owner");
    assert_eq!(
        summary(&globex.audit_events),
        [(
            AuditAction::ApiAccessEnabled,
            "staff-ops".into(),
            String::new()
        )]
    );
    let unauthenticated = api
        .keys()
        .list_audit_events(apikeys_proto::pb::ListAuditEventsRequest {
            account_id: account.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await;
    assert_code(
        unauthenticated,
        Code::Unauthenticated,
        "ListAuditEvents without a token",
    );
}

async fn bad_page_size_and_tokens_are_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let (owner, account) = (fixture.owner.clone(), fixture.account.clone());
    fixture.create_key("second@acme.test").await;
    for page_size in [-1, 1001, i32::MIN, i32::MAX] {
        assert_invalid_argument(
            api.list_audit_events(&owner, &account, page_size, "").await,
            "page_size",
            &format!("ListAuditEvents with page_size {page_size}"),
        );
    }
    for token in ["garbage".to_owned(), "!!!!".into(), "A".repeat(10_000)] {
        assert_invalid_argument(
            api.list_audit_events(&owner, &account, 0, &token).await,
            "page_token",
            "ListAuditEvents with a garbage page_token",
        );
    }
    // A ListKeys token is no ListAuditEvents token, and the other way round.
    let keys = api
        .list_keys(&owner, &account, 1, "")
        .await
        .expect("ListKeys");
    assert!(!keys.next_page_token.is_empty());
    assert_invalid_argument(
        api.list_audit_events(&owner, &account, 1, &keys.next_page_token)
            .await,
        "page_token",
        "ListAuditEvents with a ListKeys page_token",
    );
    let audit = api
        .list_audit_events(&owner, &account, 1, "")
        .await
        .expect("ListAuditEvents");
    assert!(!audit.next_page_token.is_empty());
    assert_invalid_argument(
        api.list_keys(&owner, &account, 1, &audit.next_page_token)
            .await,
        "page_token",
        "ListKeys with a ListAuditEvents page_token",
    );
    // A token from another account's trail is refused.
    let globex_owner = fixture.enabled_account("globex").await;
    api.set_api_access(&fixture.staff, "globex", false)
        .await
        .expect("disable globex");
    let globex = api
        .list_audit_events(&globex_owner, "globex", 1, "")
        .await
        .expect("ListAuditEvents globex");
    assert!(!globex.next_page_token.is_empty());
    assert_invalid_argument(
        api.list_audit_events(&owner, &account, 1, &globex.next_page_token)
            .await,
        "page_token",
        "ListAuditEvents of acme with globex's page_token",
    );
    let rest = api
        .list_audit_events(&globex_owner, "globex", 1, &globex.next_page_token)
        .await
        .expect("globex's token still works for globex");
    assert_eq!(rest.audit_events.len(), 1);
    fixture.assert_intact().await;
}

async fn unknown_account_has_an_empty_trail_like_list_keys(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let owner = fixture.tokens().owner("never-seen");
    let keys = fixture
        .api()
        .list_keys(&owner, "never-seen", 0, "")
        .await
        .expect("ListKeys of an unknown account");
    assert!(keys.keys.is_empty());
    let audit = fixture
        .api()
        .list_audit_events(&owner, "never-seen", 0, "")
        .await
        .expect("ListAuditEvents of an unknown account");
    assert!(audit.audit_events.is_empty());
    assert!(audit.next_page_token.is_empty());
}

/// The name of the user this test runs as, from its user id (`id -un`), not from `$USER`.
fn os_user_name() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    assert!(output.status.success(), "id -un: {output:?}");
    let name = String::from_utf8(output.stdout).expect("a UTF-8 user name");
    name.trim().to_owned()
}

/// `apikeys accounts enable|disable` records `cli:<user>` for the user the process runs as,
/// also where `$USER` is unset or empty (service managers, `sudo -i` shells).
async fn cli_changes_name_the_os_user_whatever_user_says(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let account = "globex";
    let url = fixture.server.database_url();
    apikeys(&["accounts", "enable", account, "--database-url", url])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .run()
        .await
        .success();
    apikeys(&["accounts", "disable", account, "--database-url", url])
        .env("USER", "")
        .env_remove("LOGNAME")
        .run()
        .await
        .success();

    let owner = fixture.tokens().owner(account);
    let page = fixture
        .api()
        .list_audit_events(&owner, account, 0, "")
        .await
        .expect("ListAuditEvents by the owner");
    let actor = format!("cli:{}", os_user_name());
    assert_eq!(
        summary(&page.audit_events),
        [
            (AuditAction::ApiAccessDisabled, actor.clone(), String::new()),
            (AuditAction::ApiAccessEnabled, actor, String::new()),
        ],
        "USER unset, then empty"
    );
}
