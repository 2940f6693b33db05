use std::sync::Arc;

use apikeys_proto::pb;
use apikeys_proto::pb::account_service_server::AccountService;
use apikeys_store::{Actor, Store};
use tonic::{Request, Response, Status};
use tracing::{field, instrument};

use super::{account_in_span, caller, convert};
use crate::auth::{Caller, authorize_staff};
use crate::error::ApiError;
use crate::verification::CredentialVerifier;

pub struct AccountServiceImpl {
    store: Store,
    verifier: Arc<CredentialVerifier>,
}

impl AccountServiceImpl {
    pub fn new(store: Store, verifier: Arc<CredentialVerifier>) -> Self {
        Self { store, verifier }
    }

    async fn set_access(
        &self,
        caller: &Caller,
        request: pb::SetApiAccessRequest,
    ) -> Result<pb::Account, ApiError> {
        authorize_staff(caller)?;
        let account_id = account_in_span(&request.account_id)?;
        let account = self
            .store
            .set_api_access(&account_id, request.enabled, &Actor::new(&caller.subject))
            .await?;
        if !request.enabled {
            self.verifier.evict_account(account_id.as_str());
        }
        tracing::info!(enabled = request.enabled, "api access changed");
        Ok(convert::account(account))
    }

    async fn get(
        &self,
        caller: &Caller,
        request: pb::GetAccountRequest,
    ) -> Result<pb::Account, ApiError> {
        authorize_staff(caller)?;
        let account_id = account_in_span(&request.account_id)?;
        Ok(match self.store.get_account(&account_id).await? {
            Some(account) => convert::account(account),
            // Never switched on: API access is off, and there is no change time to report.
            None => pb::Account {
                account_id: account_id.as_str().to_owned(),
                api_access_enabled: false,
                update_time: None,
            },
        })
    }
}

#[tonic::async_trait]
impl AccountService for AccountServiceImpl {
    #[instrument(name = "SetApiAccess", skip_all, fields(account_id = field::Empty))]
    async fn set_api_access(
        &self,
        request: Request<pb::SetApiAccessRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.set_access(&caller, request.into_inner()).await?,
        ))
    }

    #[instrument(name = "GetAccount", skip_all, fields(account_id = field::Empty))]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            self.get(&caller, request.into_inner()).await?,
        ))
    }
}
