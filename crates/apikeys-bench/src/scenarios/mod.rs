//! The scenarios: what one gRPC call is (calls.rs) and one HTTP/1.1 request (http.rs), how an
//! `apikeys` instance is prepared (setup.rs), the argon2-bound ones (cold.rs) and the memory
//! measurement (rss.rs).

pub mod calls;
pub mod cold;
pub mod http;
pub mod rss;
pub mod setup;

use std::fmt;

/// A scenario of the issue: (a) … (e), the HTTP front's (h, f1, f2, t), plus the RSS
/// measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    Bare,
    WarmCredentials,
    WarmTokens,
    CheckBasic,
    CheckBearer,
    BareHttp,
    ForwardBasic,
    ForwardBearer,
    Token,
    ColdIntrospect,
    CreateKey,
    Rss,
}

impl Scenario {
    pub const ALL: [Scenario; 12] = [
        Scenario::Bare,
        Scenario::WarmCredentials,
        Scenario::WarmTokens,
        Scenario::CheckBasic,
        Scenario::CheckBearer,
        Scenario::BareHttp,
        Scenario::ForwardBasic,
        Scenario::ForwardBearer,
        Scenario::Token,
        Scenario::ColdIntrospect,
        Scenario::CreateKey,
        Scenario::Rss,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Scenario::Bare => "a",
            Scenario::WarmCredentials => "b1",
            Scenario::WarmTokens => "b2",
            Scenario::CheckBasic => "c1",
            Scenario::CheckBearer => "c2",
            Scenario::BareHttp => "h",
            Scenario::ForwardBasic => "f1",
            Scenario::ForwardBearer => "f2",
            Scenario::Token => "t",
            Scenario::ColdIntrospect => "d",
            Scenario::CreateKey => "e",
            Scenario::Rss => "rss",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scenario::Bare => "bare tonic Introspect, no work",
            Scenario::WarmCredentials => "Introspect warm, client_id+secret",
            Scenario::WarmTokens => "Introspect warm, access token",
            Scenario::CheckBasic => "ext_authz Check warm, Basic",
            Scenario::CheckBearer => "ext_authz Check warm, Bearer token",
            Scenario::BareHttp => "bare HTTP/1.1 forward auth, no work",
            Scenario::ForwardBasic => "forward auth warm, Basic",
            Scenario::ForwardBearer => "forward auth warm, Bearer token",
            Scenario::Token => "POST /auth/token, warm cache",
            Scenario::ColdIntrospect => "Introspect cold (argon2 each call)",
            Scenario::CreateKey => "CreateKey",
            Scenario::Rss => "RSS with cached keys",
        }
    }

    /// Sent over HTTP/1.1, one connection per task (the others: gRPC over shared HTTP/2
    /// connections, or no load generator at all).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Scenario::BareHttp | Scenario::ForwardBasic | Scenario::ForwardBearer | Scenario::Token
        )
    }

    /// Parses `--scenarios`: ids, or `b` / `c` / `f` for both variants, or `all`.
    pub fn parse_list(items: &[String]) -> anyhow::Result<Vec<Scenario>> {
        let mut selected = Vec::new();
        for item in items {
            let item = item.trim();
            let matched: Vec<Scenario> = match item {
                "" => continue,
                "all" => Scenario::ALL.to_vec(),
                "b" => vec![Scenario::WarmCredentials, Scenario::WarmTokens],
                "c" => vec![Scenario::CheckBasic, Scenario::CheckBearer],
                "f" => vec![Scenario::ForwardBasic, Scenario::ForwardBearer],
                other => match Scenario::ALL.iter().find(|s| s.id() == other) {
                    Some(scenario) => vec![*scenario],
                    None => anyhow::bail!(
                        "unknown scenario {other:?}: expected a, b, b1, b2, c, c1, c2, h, f, f1, f2, t, d, e, rss or all"
                    ),
                },
            };
            selected.extend(matched);
        }
        selected.sort();
        selected.dedup();
        Ok(selected)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn parses_scenario_lists() {
        let parsed = Scenario::parse_list(&["c".into(), "a".into(), "a".into()]).expect("parse");
        assert_eq!(
            parsed,
            vec![Scenario::Bare, Scenario::CheckBasic, Scenario::CheckBearer]
        );
        let parsed = Scenario::parse_list(&["t".into(), "f".into(), "h".into()]).expect("parse");
        assert_eq!(
            parsed,
            vec![
                Scenario::BareHttp,
                Scenario::ForwardBasic,
                Scenario::ForwardBearer,
                Scenario::Token
            ]
        );
        assert!(parsed.iter().all(|scenario| scenario.is_http()));
        assert!(Scenario::parse_list(&["z".into()]).is_err());
    }
}
