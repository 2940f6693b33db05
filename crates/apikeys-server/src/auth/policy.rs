//! Who may do what. Pure functions of the verified caller, so the rules are unit-tested here.

use apikeys_store::AccountId;

use super::Caller;
use crate::error::ApiError;

const MANAGING_ROLES: &[&str] = &["owner", "admin"];
pub const INTROSPECT_SCOPE: &str = "introspect";

/// Only an Owner or Admin of `account` manages its keys.
pub fn authorize_key_management(caller: &Caller, account: &AccountId) -> Result<(), ApiError> {
    let role_allows = caller
        .role
        .as_deref()
        .is_some_and(|role| MANAGING_ROLES.contains(&role));
    let same_account = caller.account_id.as_deref() == Some(account.as_str());
    if role_allows && same_account {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "only an owner or admin of the account can manage its api keys",
        ))
    }
}

/// Switching API access is for company staff.
pub fn authorize_staff(caller: &Caller) -> Result<(), ApiError> {
    if caller.staff {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied("staff access is required"))
    }
}

/// Introspection is for gateways holding the `introspect` scope.
pub fn authorize_introspection(caller: &Caller) -> Result<(), ApiError> {
    if caller.scopes.iter().any(|scope| scope == INTROSPECT_SCOPE) {
        Ok(())
    } else {
        Err(ApiError::PermissionDenied(
            "the introspect scope is required",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(account: &str, role: &str) -> Caller {
        Caller {
            subject: "user".into(),
            email: None,
            account_id: Some(account.into()),
            role: Some(role.into()),
            staff: false,
            scopes: vec![],
        }
    }

    fn acme() -> AccountId {
        AccountId::parse("account_id", "acme").unwrap()
    }

    #[test]
    fn owners_and_admins_of_the_account_manage_keys() {
        assert!(authorize_key_management(&caller("acme", "owner"), &acme()).is_ok());
        assert!(authorize_key_management(&caller("acme", "admin"), &acme()).is_ok());
    }

    #[test]
    fn everyone_else_is_denied_key_management() {
        let mut staff = caller("other", "member");
        staff.staff = true;
        let mut no_account = caller("acme", "owner");
        no_account.account_id = None;
        for denied in [
            caller("acme", "member"),
            caller("acme", "Owner"),
            caller("acme", ""),
            caller("globex", "owner"),
            staff,
            no_account,
        ] {
            assert!(matches!(
                authorize_key_management(&denied, &acme()),
                Err(ApiError::PermissionDenied(_))
            ));
        }
    }

    #[test]
    fn staff_flag_and_introspect_scope_gate_their_services() {
        let mut staff = caller("acme", "member");
        assert!(authorize_staff(&staff).is_err());
        staff.staff = true;
        assert!(authorize_staff(&staff).is_ok());

        let mut gateway = caller("acme", "owner");
        assert!(authorize_introspection(&gateway).is_err());
        gateway.scopes = vec!["read".into(), "introspect".into()];
        assert!(authorize_introspection(&gateway).is_ok());
    }
}
