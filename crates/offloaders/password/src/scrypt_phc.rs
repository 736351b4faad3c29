//! scrypt in PHC form: `$scrypt$ln=17,r=8,p=1$<salt>$<hash>`.

use scrypt::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use scrypt::{Params, Scrypt};

use crate::Error;
use crate::algorithm::Recipe;
use crate::config::ScryptParams;

pub(crate) fn recipe(hash: &str) -> Result<Recipe, Error> {
    let parsed = PasswordHash::new(hash).map_err(|e| Error::Malformed(format!("scrypt PHC string: {e}")))?;
    let params = Params::try_from(&parsed).map_err(|e| Error::Malformed(format!("scrypt parameters: {e}")))?;
    if parsed.hash.is_none() {
        return Err(Error::Malformed("scrypt PHC string has no hash part".into()));
    }
    Ok(Recipe::Scrypt(ScryptParams { log_n: params.log_n().into(), r: params.r(), p: params.p() }))
}

pub(crate) fn hash(password: &[u8], params: ScryptParams) -> Result<String, Error> {
    let log_n =
        u8::try_from(params.log_n).map_err(|_| Error::InvalidParams(format!("scrypt log_n {}", params.log_n)))?;
    let params = Params::new(log_n, params.r, params.p, Params::RECOMMENDED_LEN)
        .map_err(|e| Error::InvalidParams(format!("scrypt: {e}")))?;
    let salt = SaltString::generate(&mut OsRng);
    Scrypt
        .hash_password_customized(password, None, None, params, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("scrypt: {e}")))
}

pub(crate) fn verify(password: &[u8], hash: &str) -> Result<bool, Error> {
    let parsed = PasswordHash::new(hash).map_err(|e| Error::Malformed(format!("scrypt PHC string: {e}")))?;
    match Scrypt.verify_password(password, &parsed) {
        Ok(()) => Ok(true),
        Err(scrypt::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Malformed(format!("scrypt: {e}"))),
    }
}
