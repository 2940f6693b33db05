//! The authorization matrix: every RPC × caller × target with the exact answer, kept as data.
//! One test drives the real server through every cell; another renders the same table as markdown
//! and requires README.md to show it verbatim, so the documented matrix is the tested one.
//! Claim variants (other roles, scope spellings, `staff: false`, …) stay in `authz.rs`.

mod world;

use std::collections::BTreeSet;

use apikeys_test_support::Backend;
use prost::Message as _;
use tonic::Code;

use self::world::World;

backend_suite!(every_cell_answers_as_the_matrix_says);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    AcmeMember,
    AcmeAdmin,
    AcmeOwner,
    GlobexOwner,
    Staff,
    Gateway,
}

const CALLERS: [Caller; 7] = [
    Caller::NoToken,
    Caller::AcmeMember,
    Caller::AcmeAdmin,
    Caller::AcmeOwner,
    Caller::GlobexOwner,
    Caller::Staff,
    Caller::Gateway,
];

impl Caller {
    fn label(self) -> &'static str {
        match self {
            Self::NoToken => "no token",
            Self::AcmeMember => "acme member",
            Self::AcmeAdmin => "acme admin",
            Self::AcmeOwner => "acme owner",
            Self::GlobexOwner => "globex owner",
            Self::Staff => "staff",
            Self::Gateway => "gateway (`introspect`)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateKey,
    ListKeys,
    ListAuditEvents,
    RevokeKey,
    SetApiAccess,
    GetAccount,
    IntrospectCredentials,
    IntrospectToken,
    IssueToken,
    GetJwks,
    CheckBasic,
    CheckBearer,
}

impl Rpc {
    /// `Service/Method` as in the descriptor set (Envoy's Check is not ours).
    fn method(self) -> &'static str {
        match self {
            Self::CreateKey => "ApiKeyService/CreateKey",
            Self::ListKeys => "ApiKeyService/ListKeys",
            Self::ListAuditEvents => "ApiKeyService/ListAuditEvents",
            Self::RevokeKey => "ApiKeyService/RevokeKey",
            Self::SetApiAccess => "AccountService/SetApiAccess",
            Self::GetAccount => "AccountService/GetAccount",
            Self::IntrospectCredentials | Self::IntrospectToken => {
                "IntrospectionService/Introspect"
            }
            Self::IssueToken => "TokenService/IssueToken",
            Self::GetJwks => "TokenService/GetJwks",
            Self::CheckBasic | Self::CheckBearer => "envoy Authorization/Check",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::IntrospectCredentials => "`Introspect` (client id + secret)",
            Self::IntrospectToken => "`Introspect` (access token)",
            Self::CheckBasic => "ext_authz `Check` (Basic id:secret)",
            Self::CheckBearer => "ext_authz `Check` (Bearer access token)",
            Self::CreateKey => "`CreateKey`",
            Self::ListKeys => "`ListKeys`",
            Self::ListAuditEvents => "`ListAuditEvents`",
            Self::RevokeKey => "`RevokeKey`",
            Self::SetApiAccess => "`SetApiAccess`",
            Self::GetAccount => "`GetAccount`",
            Self::IssueToken => "`IssueToken`",
            Self::GetJwks => "`GetJwks`",
        }
    }

    /// Changes state when it succeeds, so a refusal must leave the audit trail as it was.
    fn mutates(self) -> bool {
        matches!(self, Self::CreateKey | Self::RevokeKey | Self::SetApiAccess)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing to name.
    Nothing,
    Acme,
    Globex,
    /// A fresh account name per call, never switched on.
    UnknownAccount,
    /// An active key of acme (a fresh one per call for RevokeKey).
    AcmeKey,
    RevokedAcmeKey,
    UnknownKey,
    /// Globex's key, named as if it were acme's (`account_id: acme`).
    GlobexKeyAsAcmes,
    /// Globex's key under its own account (a fresh one per call).
    GlobexKey,
    /// A well-formed JWT this service never issued (a caller token).
    ForeignToken,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Self::Nothing => "–",
            Self::Acme => "account acme",
            Self::Globex => "account globex",
            Self::UnknownAccount => "unknown account",
            Self::AcmeKey => "acme's key",
            Self::RevokedAcmeKey => "acme's revoked key",
            Self::UnknownKey => "unknown key",
            Self::GlobexKeyAsAcmes => "globex's key, named under acme",
            Self::GlobexKey => "globex's key",
            Self::ForeignToken => "a JWT not issued here",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    /// Introspect: OK with `active: true` / `active: false`.
    Active,
    Inactive,
    /// Check: the gRPC call is OK; Envoy is told to allow, or to deny with HTTP 401.
    Allow,
    Deny401,
    Status(Code),
}

impl Answer {
    fn label(self) -> String {
        match self {
            Self::Ok => "OK".into(),
            Self::Active => "OK, active".into(),
            Self::Inactive => "OK, inactive".into(),
            Self::Allow => "OK, allow".into(),
            Self::Deny401 => "OK, deny 401".into(),
            Self::Status(code) => code_name(code),
        }
    }
}

/// The canonical name, as `grpcurl` and the README print it.
fn code_name(code: Code) -> String {
    match code {
        Code::Unauthenticated => "UNAUTHENTICATED".into(),
        Code::PermissionDenied => "PERMISSION_DENIED".into(),
        Code::NotFound => "NOT_FOUND".into(),
        Code::InvalidArgument => "INVALID_ARGUMENT".into(),
        Code::FailedPrecondition => "FAILED_PRECONDITION".into(),
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED".into(),
        Code::Unavailable => "UNAVAILABLE".into(),
        other => format!("{other:?}"),
    }
}

struct Row {
    rpc: Rpc,
    target: Target,
    /// In the order of [`CALLERS`].
    answers: [Answer; 7],
}

const fn row(rpc: Rpc, target: Target, answers: [Answer; 7]) -> Row {
    Row {
        rpc,
        target,
        answers,
    }
}

const OK: Answer = Answer::Ok;
const ACTIVE: Answer = Answer::Active;
const INACTIVE: Answer = Answer::Inactive;
const ALLOW: Answer = Answer::Allow;
const DENY: Answer = Answer::Deny401;
const UNAUTH: Answer = Answer::Status(Code::Unauthenticated);
const DENIED: Answer = Answer::Status(Code::PermissionDenied);
const NOT_FOUND: Answer = Answer::Status(Code::NotFound);

use Rpc::*;
use Target::*;

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                           none    member  admin      owner      globex  staff   gateway
    row(CreateKey,             Acme,             [UNAUTH, DENIED, OK,        OK,        DENIED, DENIED, DENIED]),
    row(CreateKey,             Globex,           [UNAUTH, DENIED, DENIED,    DENIED,    OK,     DENIED, DENIED]),
    row(CreateKey,             UnknownAccount,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENIED]),
    row(ListKeys,              Acme,             [UNAUTH, DENIED, OK,        OK,        DENIED, DENIED, DENIED]),
    row(ListKeys,              Globex,           [UNAUTH, DENIED, DENIED,    DENIED,    OK,     DENIED, DENIED]),
    row(ListKeys,              UnknownAccount,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENIED]),
    row(ListAuditEvents,       Acme,             [UNAUTH, DENIED, OK,        OK,        DENIED, DENIED, DENIED]),
    row(ListAuditEvents,       Globex,           [UNAUTH, DENIED, DENIED,    DENIED,    OK,     DENIED, DENIED]),
    row(ListAuditEvents,       UnknownAccount,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENIED]),
    row(RevokeKey,             AcmeKey,          [UNAUTH, DENIED, OK,        OK,        DENIED, DENIED, DENIED]),
    row(RevokeKey,             RevokedAcmeKey,   [UNAUTH, DENIED, NOT_FOUND, NOT_FOUND, DENIED, DENIED, DENIED]),
    row(RevokeKey,             UnknownKey,       [UNAUTH, DENIED, NOT_FOUND, NOT_FOUND, DENIED, DENIED, DENIED]),
    row(RevokeKey,             GlobexKeyAsAcmes, [UNAUTH, DENIED, NOT_FOUND, NOT_FOUND, DENIED, DENIED, DENIED]),
    row(RevokeKey,             GlobexKey,        [UNAUTH, DENIED, DENIED,    DENIED,    OK,     DENIED, DENIED]),
    row(SetApiAccess,          Acme,             [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, OK,     DENIED]),
    row(SetApiAccess,          UnknownAccount,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, OK,     DENIED]),
    row(GetAccount,            Acme,             [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, OK,     DENIED]),
    row(GetAccount,            UnknownAccount,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, OK,     DENIED]),
    row(IntrospectCredentials, AcmeKey,          [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, ACTIVE]),
    row(IntrospectCredentials, RevokedAcmeKey,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, INACTIVE]),
    row(IntrospectCredentials, UnknownKey,       [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, INACTIVE]),
    row(IntrospectToken,       AcmeKey,          [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, ACTIVE]),
    row(IntrospectToken,       RevokedAcmeKey,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, INACTIVE]),
    row(IntrospectToken,       ForeignToken,     [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, INACTIVE]),
    row(IssueToken,            AcmeKey,          [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, OK]),
    row(IssueToken,            RevokedAcmeKey,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, UNAUTH]),
    row(IssueToken,            UnknownKey,       [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, UNAUTH]),
    row(GetJwks,               Nothing,          [OK,     OK,     OK,        OK,        OK,     OK,     OK]),
    row(CheckBasic,            AcmeKey,          [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, ALLOW]),
    row(CheckBasic,            RevokedAcmeKey,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENY]),
    row(CheckBasic,            UnknownKey,       [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENY]),
    row(CheckBearer,           AcmeKey,          [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, ALLOW]),
    row(CheckBearer,           RevokedAcmeKey,   [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENY]),
    row(CheckBearer,           ForeignToken,     [UNAUTH, DENIED, DENIED,    DENIED,    DENIED, DENIED, DENY]),
];

const README_START: &str = "<!-- authz-matrix:start -->";
const README_END: &str = "<!-- authz-matrix:end -->";

/// The matrix as a markdown table, with `answer` giving the text of each cell.
fn render(answer: impl Fn(&Row, usize) -> String) -> String {
    let mut out = String::from("| RPC | target |");
    for caller in CALLERS {
        out.push_str(&format!(" {} |", caller.label()));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(CALLERS.len()));
    for row in MATRIX {
        out.push_str(&format!(
            "\n| {} | {} |",
            row.rpc.label(),
            row.target.label()
        ));
        for column in 0..CALLERS.len() {
            out.push_str(&format!(" {} |", answer(row, column)));
        }
    }
    out.push('\n');
    out
}

fn documented_matrix() -> String {
    render(|row, column| row.answers[column].label())
}

/// The text between the README markers, or `None` without both of them.
fn readme_block(readme: &str) -> Option<&str> {
    let (_, rest) = readme.split_once(README_START)?;
    let (block, _) = rest.split_once(README_END)?;
    Some(block)
}

#[test]
fn readme_shows_the_tested_matrix() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("read README.md");
    let expected = documented_matrix();
    let found = readme_block(&readme).map(str::trim);
    assert!(
        found == Some(expected.trim()),
        "README.md must hold the authorization matrix between its markers, exactly:\n\n\
         {README_START}\n{expected}{README_END}\n"
    );
}

#[test]
fn readme_block_is_found_between_the_markers() {
    let text = format!("intro\n{README_START}\n| a |\n{README_END}\noutro");
    assert_eq!(readme_block(&text).map(str::trim), Some("| a |"));
    assert_eq!(readme_block("no markers"), None);
    assert_eq!(readme_block(&format!("{README_START} but no end")), None);
}

/// A new RPC in the contract fails here until the matrix says who may call it.
#[test]
fn matrix_covers_every_rpc_of_the_contract() {
    let set = prost_types::FileDescriptorSet::decode(apikeys_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    let contract: BTreeSet<String> = set
        .file
        .iter()
        .flat_map(|file| &file.service)
        .flat_map(|service| {
            service
                .method
                .iter()
                .map(move |method| format!("{}/{}", service.name(), method.name()))
        })
        .collect();
    let covered: BTreeSet<String> = MATRIX.iter().map(|r| r.rpc.method().to_owned()).collect();
    let missing: Vec<&String> = contract.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "RPCs missing from the matrix: {missing:?}"
    );
}

async fn every_cell_answers_as_the_matrix_says(backend: Backend) {
    let mut world = World::new(backend).await;
    let mut observed = Vec::new();
    for row in MATRIX {
        let mut answers = Vec::new();
        for caller in CALLERS {
            answers.push(world.answer(row.rpc, row.target, caller).await);
        }
        observed.push(answers);
    }
    let mismatches: Vec<String> = MATRIX
        .iter()
        .zip(&observed)
        .flat_map(|(row, answers)| {
            CALLERS
                .iter()
                .zip(answers)
                .zip(row.answers)
                .filter(|((_, got), want)| **got != want.label())
                .map(|((caller, got), want)| {
                    format!(
                        "{} on {} by {}: expected {}, got {got}",
                        row.rpc.label(),
                        row.target.label(),
                        caller.label(),
                        want.label()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let table = render(|row, column| {
        let index = MATRIX
            .iter()
            .position(|r| std::ptr::eq(r, row))
            .expect("row of the matrix");
        observed[index][column].clone()
    });
    assert!(
        mismatches.is_empty(),
        "{} cells differ from the matrix:\n{}\n\nobserved:\n{table}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
