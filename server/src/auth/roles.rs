//! Roles: who may log in, with which attributes, and the SCRAM verifiers
//! their passwords are checked against.
//!
//! Roles live in `<data dir>/roles.json` (mode 0600), rewritten whole
//! through a temporary file and a rename like the catalog. A password is
//! never stored: only its SCRAM-SHA-256 verifier, in PostgreSQL's format
//! (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), from which
//! the password cannot be recovered.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use pgwire::api::auth::sasl::scram::{
    SCRAM_ITERATIONS, ScramSecret, gen_salted_password, random_nonce,
};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use strata_connectors::session::DEFAULT_CATALOG;

use super::privileges::{GrantEntry, PUBLIC, Principal, Privilege, Securable, default_grants};
use crate::error::SqlState;

const FILE_NAME: &str = "roles.json";
const FORMAT_VERSION: u32 = 1;
const VERIFIER_PREFIX: &str = "SCRAM-SHA-256$";
/// The administrator every data folder has, PostgreSQL's bootstrap superuser.
pub const ADMIN_ROLE: &str = "strata";
/// The oid PostgreSQL gives its bootstrap superuser.
pub const ADMIN_OID: u32 = 10;

/// A secret from the environment or a statement: shown as `***` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Errors managing roles, each with its SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("role \"{0}\" already exists")]
    Duplicate(String),
    #[error("role \"{0}\" does not exist")]
    Undefined(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    InUse(String),
    #[error("role name \"{0}\" is reserved")]
    Reserved(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0} is not supported")]
    NotSupported(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("the role file {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write the role file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RoleError {
    pub fn sqlstate(&self) -> SqlState {
        match self {
            RoleError::Duplicate(_) => SqlState::DUPLICATE_OBJECT,
            RoleError::Undefined(_) => SqlState::UNDEFINED_OBJECT,
            RoleError::PermissionDenied(_) => SqlState::INSUFFICIENT_PRIVILEGE,
            RoleError::InUse(_) => SqlState::OBJECT_IN_USE,
            RoleError::Reserved(_) => SqlState::RESERVED_NAME,
            RoleError::InvalidValue(_) => SqlState::INVALID_PARAMETER_VALUE,
            RoleError::NotSupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
            RoleError::InvalidGrant(_) => SqlState::INVALID_GRANT_OPERATION,
            RoleError::Damaged { .. } | RoleError::Io { .. } => SqlState::IO_ERROR,
        }
    }
}

/// A role and its attributes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub oid: u32,
    pub superuser: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub login: bool,
    pub inherit: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// Connections the role may hold at once; -1 for no limit.
    pub connection_limit: i32,
    /// The SCRAM-SHA-256 verifier of its password, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    /// The roles this one was granted (`GRANT role TO this`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<String>,
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Role")
            .field("name", &self.name)
            .field("oid", &self.oid)
            .field("superuser", &self.superuser)
            .field("login", &self.login)
            .field("has_password", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

impl Role {
    /// A role with PostgreSQL's defaults: `CREATE ROLE` makes a role that
    /// cannot log in, `CREATE USER` one that can.
    pub fn new(name: &str, oid: u32, login: bool) -> Self {
        Self {
            name: name.to_owned(),
            oid,
            superuser: false,
            create_role: false,
            create_db: false,
            login,
            inherit: true,
            replication: false,
            bypass_rls: false,
            connection_limit: -1,
            verifier: None,
            member_of: Vec::new(),
        }
    }

    fn admin() -> Self {
        Self {
            superuser: true,
            create_role: true,
            create_db: true,
            replication: true,
            bypass_rls: true,
            ..Self::new(ADMIN_ROLE, ADMIN_OID, true)
        }
    }

    /// The credential a SCRAM exchange checks, if the role has a password.
    pub fn scram_secret(&self) -> Option<ScramSecret> {
        self.verifier.as_deref().and_then(parse_verifier)
    }
}

/// Changes `CREATE ROLE` and `ALTER ROLE` make; `None` leaves an attribute.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoleOptions {
    pub superuser: Option<bool>,
    pub create_role: Option<bool>,
    pub create_db: Option<bool>,
    pub login: Option<bool>,
    pub inherit: Option<bool>,
    pub replication: Option<bool>,
    pub bypass_rls: Option<bool>,
    pub connection_limit: Option<i32>,
    /// `PASSWORD 'x'` (`Some(Some)`) or `PASSWORD NULL` (`Some(None)`).
    pub password: Option<Option<Secret>>,
}

impl RoleOptions {
    fn apply(&self, role: &mut Role) -> Result<(), RoleError> {
        let set = |target: &mut bool, value: Option<bool>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        set(&mut role.superuser, self.superuser);
        set(&mut role.create_role, self.create_role);
        set(&mut role.create_db, self.create_db);
        set(&mut role.login, self.login);
        set(&mut role.inherit, self.inherit);
        set(&mut role.replication, self.replication);
        set(&mut role.bypass_rls, self.bypass_rls);
        if let Some(limit) = self.connection_limit {
            role.connection_limit = limit;
        }
        if let Some(password) = &self.password {
            role.verifier = match password {
                Some(password) => stored_verifier(password)?,
                None => None,
            };
        }
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RoleFile {
    version: u32,
    /// Keys the salts of the made-up verifiers unknown users are answered
    /// with, so the salt a client sees does not tell whether a user exists.
    mock_key: String,
    roles: BTreeMap<String, Role>,
    /// Privileges on catalogs, schemas and tables.
    #[serde(default)]
    grants: Vec<GrantEntry>,
}

/// The roles, kept in step with their file.
#[derive(Debug)]
pub struct RoleStore {
    path: PathBuf,
    file: Mutex<RoleFile>,
}

impl RoleStore {
    /// Opens the roles of `data_dir`, creating the file with the admin role
    /// on first use.
    pub fn open(data_dir: &Path) -> Result<Self, RoleError> {
        let path = data_dir.join(FILE_NAME);
        let damaged = |reason: String| RoleError::Damaged {
            path: path.clone(),
            reason,
        };
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: RoleFile =
                    serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
                if file.version != FORMAT_VERSION {
                    return Err(damaged(format!(
                        "format version {}, this server reads {FORMAT_VERSION}",
                        file.version
                    )));
                }
                Some(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(RoleError::Io { path, source }),
        };
        let store = Self {
            path,
            file: Mutex::new(RoleFile::default()),
        };
        match file {
            Some(file) => *store.lock() = file,
            None => store.update(|file| {
                file.version = FORMAT_VERSION;
                file.mock_key = random_nonce();
                file.roles.insert(ADMIN_ROLE.to_owned(), Role::admin());
                file.grants = default_grants(DEFAULT_CATALOG);
                Ok(())
            })?,
        }
        if !store.lock().roles.contains_key(ADMIN_ROLE) {
            store.update(|file| {
                file.roles.insert(ADMIN_ROLE.to_owned(), Role::admin());
                Ok(())
            })?;
        }
        Ok(store)
    }

    /// Every role, by name.
    pub fn roles(&self) -> Vec<Role> {
        self.lock().roles.values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Role> {
        self.lock().roles.get(name).cloned()
    }

    /// Whether `password` is `user`'s: the client proof a SCRAM exchange
    /// would check, recomputed from the password (HTTP Basic logins of the
    /// console). False for an unknown role or one without a password.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(ScramSecret::Verifier {
            salt,
            iterations,
            stored_key,
            ..
        }) = self.get(user).and_then(|role| role.scram_secret())
        else {
            return false;
        };
        let salted = gen_salted_password(password, &salt, iterations);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &salted);
        let client_key = ring::hmac::sign(&key, b"Client Key");
        let stored = ring::digest::digest(&ring::digest::SHA256, client_key.as_ref());
        // Compared in constant time.
        stored.as_ref().len() == stored_key.len()
            && stored
                .as_ref()
                .iter()
                .zip(&stored_key)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// True once any role has a password: from then on every connection
    /// not explicitly trusted authenticates.
    pub fn passwords_set(&self) -> bool {
        self.lock().roles.values().any(|r| r.verifier.is_some())
    }

    /// Gives the admin role `password` if it has none yet (the first start
    /// with `STRATA_ADMIN_PASSWORD` set); true if it did.
    pub fn set_admin_password_if_unset(&self, password: &Secret) -> Result<bool, RoleError> {
        if self
            .get(ADMIN_ROLE)
            .is_some_and(|admin| admin.verifier.is_some())
        {
            return Ok(false);
        }
        let verifier = stored_verifier(password)?;
        self.update(|file| {
            if let Some(admin) = file.roles.get_mut(ADMIN_ROLE) {
                admin.verifier = verifier;
            }
            Ok(())
        })?;
        Ok(true)
    }

    /// Adds a role named `name` with `options` over PostgreSQL's defaults.
    pub fn create(
        &self,
        name: &str,
        oid: u32,
        login: bool,
        options: &RoleOptions,
    ) -> Result<(), RoleError> {
        check_name(name)?;
        let mut role = Role::new(name, oid, login);
        options.apply(&mut role)?;
        self.update(|file| {
            if file.roles.contains_key(name) {
                return Err(RoleError::Duplicate(name.to_owned()));
            }
            file.roles.insert(name.to_owned(), role);
            Ok(())
        })
    }

    /// Changes the attributes of role `name`.
    pub fn alter(&self, name: &str, options: &RoleOptions) -> Result<(), RoleError> {
        self.update(|file| {
            let role = file
                .roles
                .get_mut(name)
                .ok_or_else(|| RoleError::Undefined(name.to_owned()))?;
            let mut changed = role.clone();
            options.apply(&mut changed)?;
            if name == ADMIN_ROLE && !(changed.superuser && changed.login) {
                return Err(RoleError::PermissionDenied(format!(
                    "permission denied to alter role: the administrator role \"{ADMIN_ROLE}\" \
                     must stay a superuser that can log in"
                )));
            }
            *role = changed;
            Ok(())
        })
    }

    /// Renames role `from` to `to`.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), RoleError> {
        check_name(to)?;
        if from == ADMIN_ROLE {
            return Err(RoleError::InUse(format!(
                "the administrator role \"{ADMIN_ROLE}\" cannot be renamed"
            )));
        }
        self.update(|file| {
            if file.roles.contains_key(to) {
                return Err(RoleError::Duplicate(to.to_owned()));
            }
            let mut role = file
                .roles
                .remove(from)
                .ok_or_else(|| RoleError::Undefined(from.to_owned()))?;
            role.name = to.to_owned();
            file.roles.insert(to.to_owned(), role);
            for other in file.roles.values_mut() {
                for granted in &mut other.member_of {
                    if granted == from {
                        *granted = to.to_owned();
                    }
                }
            }
            for grant in &mut file.grants {
                if grant.grantee == from {
                    grant.grantee = to.to_owned();
                }
            }
            Ok(())
        })
    }

    /// Removes role `name`; false if there was none.
    pub fn drop_role(&self, name: &str) -> Result<bool, RoleError> {
        if name == ADMIN_ROLE {
            return Err(RoleError::InUse(format!(
                "cannot drop role {ADMIN_ROLE} because it is required by the database system"
            )));
        }
        let mut found = false;
        self.update(|file| {
            found = file.roles.remove(name).is_some();
            // Its privileges and memberships go with it.
            file.grants.retain(|g| g.grantee != name);
            for other in file.roles.values_mut() {
                other.member_of.retain(|r| r != name);
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// What `user` may do. A user that is not a role exists only while no
    /// password is set (loopback is trusted): it may do everything until
    /// then, and nothing beyond PUBLIC's grants after.
    pub fn principal(&self, user: &str) -> Principal {
        let file = self.lock();
        let Some(role) = file.roles.get(user) else {
            if !file.roles.values().any(|r| r.verifier.is_some()) {
                return Principal::superuser(user);
            }
            return Principal {
                name: user.to_owned(),
                superuser: false,
                create_role: false,
                grants: grants_to(&file.grants, &[PUBLIC.to_owned()]),
            };
        };
        if role.superuser {
            return Principal::superuser(user);
        }
        // The role, and the roles it inherits privileges from.
        let mut roles = vec![role.name.clone()];
        let mut next = 0;
        while next < roles.len() {
            let member = file.roles.get(&roles[next]);
            next += 1;
            let Some(member) = member.filter(|m| m.inherit) else {
                continue;
            };
            for granted in &member.member_of {
                if !roles.contains(granted) {
                    roles.push(granted.clone());
                }
            }
        }
        roles.push(PUBLIC.to_owned());
        Principal {
            name: user.to_owned(),
            superuser: false,
            create_role: role.create_role,
            grants: grants_to(&file.grants, &roles),
        }
    }

    /// Grants (`revoke` false) or revokes `privileges` on `object` to or
    /// from each of `grantees` (role names or PUBLIC).
    pub fn change_grants(
        &self,
        grantees: &[String],
        object: &Securable,
        privileges: &BTreeSet<Privilege>,
        revoke: bool,
    ) -> Result<(), RoleError> {
        self.update(|file| {
            for grantee in grantees {
                if grantee != PUBLIC && !file.roles.contains_key(grantee) {
                    return Err(RoleError::Undefined(grantee.clone()));
                }
                let at = file
                    .grants
                    .iter()
                    .position(|g| &g.grantee == grantee && &g.object == object);
                match (at, revoke) {
                    (Some(at), false) => file.grants[at].privileges.extend(privileges),
                    (None, false) => file.grants.push(GrantEntry {
                        grantee: grantee.clone(),
                        object: object.clone(),
                        privileges: privileges.clone(),
                    }),
                    (Some(at), true) => {
                        file.grants[at]
                            .privileges
                            .retain(|p| !privileges.contains(p));
                        if file.grants[at].privileges.is_empty() {
                            file.grants.remove(at);
                        }
                    }
                    (None, true) => {}
                }
            }
            Ok(())
        })
    }

    /// Forgets every grant on `object` and on what it holds, as PostgreSQL's
    /// privileges go with a dropped object: a new object of the same name
    /// starts with none.
    pub fn forget_object(&self, object: &Securable) -> Result<(), RoleError> {
        if !self.lock().grants.iter().any(|g| object.holds(&g.object)) {
            return Ok(());
        }
        self.update(|file| {
            file.grants.retain(|g| !object.holds(&g.object));
            Ok(())
        })
    }

    /// Makes each of `members` a member of each of `roles`, or no longer.
    pub fn change_membership(
        &self,
        roles: &[String],
        members: &[String],
        revoke: bool,
    ) -> Result<(), RoleError> {
        self.update(|file| {
            for name in roles.iter().chain(members) {
                if !file.roles.contains_key(name) {
                    return Err(RoleError::Undefined(name.clone()));
                }
            }
            for member in members {
                for role in roles {
                    if revoke {
                        if let Some(m) = file.roles.get_mut(member) {
                            m.member_of.retain(|r| r != role);
                        }
                        continue;
                    }
                    if member == role || is_member(file, role, member) {
                        return Err(RoleError::InvalidGrant(format!(
                            "role \"{member}\" is a member of role \"{role}\""
                        )));
                    }
                    if let Some(m) = file.roles.get_mut(member)
                        && !m.member_of.contains(role)
                    {
                        m.member_of.push(role.clone());
                    }
                }
            }
            Ok(())
        })
    }

    /// The made-up credential an unknown user (or one without a password)
    /// is checked against: its salt is the same on every attempt, as a real
    /// user's is, and no password matches it.
    pub fn mock_secret(&self, user: &str) -> ScramSecret {
        let key = self.lock().mock_key.clone();
        let salt = ring::digest::digest(&ring::digest::SHA256, format!("{key}\0{user}").as_bytes());
        let mut unmatchable = [0u8; 32];
        let _ = SystemRandom::new().fill(&mut unmatchable);
        ScramSecret::Verifier {
            salt: salt.as_ref()[..16].to_vec(),
            iterations: SCRAM_ITERATIONS,
            stored_key: unmatchable.to_vec(),
            server_key: unmatchable.to_vec(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RoleFile> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` to a copy, writes it and only then keeps it.
    fn update(
        &self,
        change: impl FnOnce(&mut RoleFile) -> Result<(), RoleError>,
    ) -> Result<(), RoleError> {
        let mut file = self.lock();
        let mut next = RoleFile {
            version: FORMAT_VERSION,
            mock_key: file.mock_key.clone(),
            roles: file.roles.clone(),
            grants: file.grants.clone(),
        };
        change(&mut next)?;
        let io = |source| RoleError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        write_private(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        *file = next;
        Ok(())
    }
}

/// The grants to any of `roles`.
fn grants_to(grants: &[GrantEntry], roles: &[String]) -> Vec<GrantEntry> {
    grants
        .iter()
        .filter(|g| roles.contains(&g.grantee))
        .cloned()
        .collect()
}

/// True if `role` is `member` or (through grants) a member of it.
fn is_member(file: &RoleFile, role: &str, member: &str) -> bool {
    let mut pending = vec![role.to_owned()];
    let mut seen = Vec::new();
    while let Some(next) = pending.pop() {
        if next == member {
            return true;
        }
        if seen.contains(&next) {
            continue;
        }
        if let Some(r) = file.roles.get(&next) {
            pending.extend(r.member_of.iter().cloned());
        }
        seen.push(next);
    }
    false
}

/// Writes `bytes` to a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// PostgreSQL refuses `pg_` names and the pseudo-roles' names.
fn check_name(name: &str) -> Result<(), RoleError> {
    if name.is_empty() {
        return Err(RoleError::InvalidValue(
            "a role name cannot be empty".to_owned(),
        ));
    }
    if name.starts_with("pg_") || ["public", "none"].contains(&name) {
        return Err(RoleError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// What to store for a password a statement gave: a SCRAM verifier as is
/// (psql's `\password` sends one, computed on the client), otherwise the
/// verifier of the password; an empty password clears it, as PostgreSQL does.
fn stored_verifier(password: &Secret) -> Result<Option<String>, RoleError> {
    let text = password.expose();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with(VERIFIER_PREFIX) {
        return match parse_verifier(text) {
            Some(_) => Ok(Some(text.to_owned())),
            None => Err(RoleError::InvalidValue(
                "the SCRAM-SHA-256 verifier given as the password is malformed".to_owned(),
            )),
        };
    }
    if text.len() == 35
        && text.starts_with("md5")
        && text[3..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(RoleError::NotSupported(
            "an MD5 password hash; give the password or a SCRAM-SHA-256 verifier".to_owned(),
        ));
    }
    Ok(Some(scram_verifier(text)))
}

/// The SCRAM-SHA-256 verifier of `password` with a fresh random salt.
pub fn scram_verifier(password: &str) -> String {
    let mut salt = [0u8; 16];
    if SystemRandom::new().fill(&mut salt).is_err() {
        // The system's random source failing is not survivable for keys.
        panic!("the system random number generator failed");
    }
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    match ScramSecret::verifier_from_salted_password(salt.to_vec(), salted, SCRAM_ITERATIONS) {
        ScramSecret::Verifier {
            salt,
            iterations,
            stored_key,
            server_key,
        } => format!(
            "{VERIFIER_PREFIX}{iterations}:{}${}:{}",
            STANDARD.encode(salt),
            STANDARD.encode(stored_key),
            STANDARD.encode(server_key)
        ),
        ScramSecret::SaltedPassword { .. } => unreachable!("a verifier was asked for"),
    }
}

/// Reads a verifier in PostgreSQL's format.
fn parse_verifier(text: &str) -> Option<ScramSecret> {
    let rest = text.strip_prefix(VERIFIER_PREFIX)?;
    let (params, keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    let iterations: usize = iterations.parse().ok().filter(|i| *i > 0)?;
    let salt = STANDARD.decode(salt).ok()?;
    let stored_key = STANDARD.decode(stored_key).ok()?;
    let server_key = STANDARD.decode(server_key).ok()?;
    (stored_key.len() == 32 && server_key.len() == 32).then_some(ScramSecret::Verifier {
        salt,
        iterations,
        stored_key,
        server_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_checked_against_their_verifier() {
        let dir = tempfile::tempdir().unwrap();
        let store = RoleStore::open(dir.path()).unwrap();
        assert!(!store.check_password(ADMIN_ROLE, ""), "no password yet");
        store
            .set_admin_password_if_unset(&Secret::new("s3cret-pass"))
            .unwrap();
        assert!(store.check_password(ADMIN_ROLE, "s3cret-pass"));
        assert!(!store.check_password(ADMIN_ROLE, "s3cret-pas"));
        assert!(!store.check_password("nobody", "s3cret-pass"));
    }

    #[test]
    fn verifiers_round_trip_and_never_hold_the_password() {
        let verifier = scram_verifier("hunter2");
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!verifier.contains("hunter2"));
        assert!(parse_verifier(&verifier).is_some());
        assert_ne!(verifier, scram_verifier("hunter2"), "salts are random");
        assert!(parse_verifier("SCRAM-SHA-256$4096:c2FsdA==$eA==:eA==").is_none());
    }

    #[test]
    fn roles_survive_reopening_and_passwords_are_verifiers() {
        let dir = tempfile::tempdir().unwrap();
        let store = RoleStore::open(dir.path()).unwrap();
        assert!(!store.passwords_set());
        assert!(store.get(ADMIN_ROLE).unwrap().superuser);
        let options = RoleOptions {
            password: Some(Some(Secret::new("s3cret-pw"))),
            ..Default::default()
        };
        store.create("alice", 20000, true, &options).unwrap();
        assert!(matches!(
            store.create("alice", 20001, true, &RoleOptions::default()),
            Err(RoleError::Duplicate(_))
        ));
        assert!(matches!(
            store.create("pg_x", 20001, true, &RoleOptions::default()),
            Err(RoleError::Reserved(_))
        ));
        assert!(store.passwords_set());
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!text.contains("s3cret-pw"));
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap();
        assert_eq!(mode & 0o777, 0o600);

        let reopened = RoleStore::open(dir.path()).unwrap();
        assert!(reopened.get("alice").unwrap().scram_secret().is_some());
        reopened.rename("alice", "bob").unwrap();
        assert!(reopened.get("alice").is_none());
        assert!(reopened.drop_role("bob").unwrap());
        assert!(!reopened.drop_role("bob").unwrap());
        assert!(matches!(
            reopened.drop_role(ADMIN_ROLE),
            Err(RoleError::InUse(_))
        ));
        let demote = RoleOptions {
            superuser: Some(false),
            ..Default::default()
        };
        assert!(reopened.alter(ADMIN_ROLE, &demote).is_err());
    }

    #[test]
    fn the_admin_password_is_set_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = RoleStore::open(dir.path()).unwrap();
        assert!(
            store
                .set_admin_password_if_unset(&Secret::new("first"))
                .unwrap()
        );
        assert!(
            !store
                .set_admin_password_if_unset(&Secret::new("second"))
                .unwrap()
        );
        assert!(store.passwords_set());
    }

    #[test]
    fn unknown_users_get_a_stable_salt() {
        let dir = tempfile::tempdir().unwrap();
        let store = RoleStore::open(dir.path()).unwrap();
        let salt = |user| match store.mock_secret(user) {
            ScramSecret::Verifier { salt, .. } => salt,
            ScramSecret::SaltedPassword { .. } => unreachable!(),
        };
        assert_eq!(salt("nobody"), salt("nobody"));
        assert_ne!(salt("nobody"), salt("someone"));
    }
}
