//! The provider's RSA keys, its JWKS and ID-token minting.

use std::sync::LazyLock;

use chrono::{Duration, Utc};
use openidconnect::core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, EndUserEmail, EndUserName, IdTokenClaims, IssuerUrl,
    JsonWebKeyId, LocalizedClaim, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::Value;

use super::{Behaviour, IdTokenPerson};

/// Claims of the issuer's own, beside the standard ones.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ExtraClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

pub(super) const KEY_ID: &str = "mock-key-1";
pub(super) const SUBJECT: &str = "mock-user-1";
pub(super) const EMAIL: &str = "ada@mock.example";
pub(super) const NAME: &str = "Ada Mock";
const WRONG_ISSUER: &str = "https://evil.example";
const WRONG_AUDIENCE: &str = "someone-else";
const WRONG_NONCE: &str = "not-the-nonce-you-sent";
const ID_TOKEN_TTL_SECS: i64 = 600;

// Throwaway 2048-bit test key generated for this mock (`openssl genrsa -traditional 2048`).
// It protects nothing; never reuse it anywhere real.
const SIGNING_KEY_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAhwoDUCJ6ghVzKVi3rWQBbZkYq2Vg6T4BMEC1XMCIvXiYAO3l
W0tm0pKb3h9vEZK99RnPI4uNWtVRN9AVscHgr1Fst9FAA1YupUUsKKql0rwNQUkM
F3M1Ie+JD7AQtIUa8Ec5ZdvhuWo/6wljidzLorbt0EPZLAU1Ph1WwK3rqTHGkpGJ
kfIiYScKxpwSErgvaE/H7hHUfCLUI3Zvs8WG1b/Ot51msD1GQ4WEnd2ImG/887Uk
aEeLMoLOc0fSim6jlYlpugEtznOj6ZM/Qwt8OuERRjhTU6VoEB4/gvoXoywMp1kr
dxpxgbjH22MMgKL+CsI5Uvby8pSAJAD/iwyPYQIDAQABAoIBAAcbAtX97XMwNqBA
pMAS9rwGCfE1VzhIqOJ5ii1+bEeHe5yTZ/3R+a/nctwJDISow3Xs2OxYcsx6dGDG
4khZYLWq57kDob4XNCLCQTbF1W5BcsNaWRB4EX320yAEIjnkddiaL9INNAs4BPNc
qewadgzamih69HfDcaPyQmMGt8NuGW+PjlAqkJ7D687/smWyYt9ckc3rIdvKtCNb
3X3vQNRkEaLfZJ/Z1NF12egTbbTTt2H8tqEoTFwfg3609X9mMdGGGWlHrflsYC0i
M/6qSzq8AVx2yeSOK+ztp8bKK1X2/qvVzeRONqQE6fbaWUwnAtVXetTysnqlvYku
r3PPyfECgYEAvo4jl/yRtmBhG36VSo8GvikKgrCNNcJ08pSRjSYJScfhDkdtU4H3
7+lN0tvNTXRPuOL6f/C1+qxvXwdFx56WQNqKGiJezu3Qz7VjJOPCMwW8GNXh6YB9
nyNy5eSOuer5XfLtqT/bzUKpKwlYBiMvPGdEedHkO2lZ3LpsvlKoZTECgYEAtWrT
UFDl2sy5xeHCuLGODeLpJjEXwAo50ncIDAsk8+NV4qk1Yz/6w3HMW7Wc+fc2y4XJ
zR3Tn95ikAcg7H182FxOMljy3apzK8Pggw40BTgA73oe+oX8hTMO4HNJkLNmK1ZZ
pa71CkIEYYJGoCjqjMBcIRWMc6FlMwm5LWwsATECgYAbllhw2I//51QnttvGP46q
WSa8ZPMMpWpo9DleRfNySw26E30wadCLWyt5K3k9jWk9Sx8ZBrBR6kT1bQgdLkhy
ezEjN3aiXqusZoZEAPVMjbf9oHlkZMXLFEa+IajIIcyYXWMq7aPUw6HaKTAlM1LT
W9/+AvUX5NitrA+yPiVDAQKBgHqIaavgyC9tgbiHEMdAncsBTSqPlBQQlBd0cEn6
KP5VuUe7tCSSLSRfM4Fp/FnVQPxcI/5Xu/1J7laLihBRfcaBKgvVikxv+RRBW94I
9NfliLQ3Tr81SmcJIm41UCXdFhAFZc2Di1xfVKgrntpEaI+iyVdLP69F/p1nXtyw
KFSxAoGBAJcnZpamWru6mzPzLgZTo9JsFNYkGiIGuZ73s7VILhPzfJcJj1TORw03
Oz15LDA53gbwe7B6Q3hyINem5vrhVdUgi8eeOFfoQle2H/d1cFi+9caNK0tb66hT
JsH/Qj2DZJIddqKZa35PDrB3RhQXsirzitROuXl4zDCcP3djo4w6
-----END RSA PRIVATE KEY-----
";

// A second throwaway test key, deliberately absent from the JWKS: ID tokens signed with it under
// the same kid must fail signature verification.
const ROGUE_KEY_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEoQIBAAKCAQEApYhcw2atS557GAcqbjzpUz+1URlUumu6m9ShSK0O3anf9vVB
L+K22r/CTapV4X6PouM9e+0jJ13GA1nmfsNoqeY8OnhxhxtRD7vhTo+w8fTv/JUe
t9SFq5ixx4XeycWkXaF6Rz48U7WNKKEbB+azYDONjQOFxmIf6qh1OiUy4ThkQOmD
vJC6cduwM6wARXM/9Ikzy9YQxBm0uksxTy3MFMvYBPJAOLBcfsLNe57GYO6SKEUi
eZ9ri9Mvp8tB5eOIh0CIs4vU5WBQu51fFKYB5xVkhRM/TyTXmfdK4VwvpInKJBhP
GEK5TG/7SxFXntKFF0sJuwCqUtX18VN/BIox0QIDAQABAoIBAEgUaFxX5gcjE/PD
DwlgsbMj7zbIwnnItkHr5W0pmmsQcStu4TtSTBBV5ux9yxa9Txt9OwUvHhsivLox
1+oD+hvdWwWU886CqRoiVDoq3MCHSUchwfYHb0to2qUImJog23FAAuhp48gJqtVx
zbzzitFNsYohaguYJ9C9GQrALvcdrQ7KvxSESkpfnxcJkObW4iH8lUC+jK4SZJ79
LqGEC3d+2gPxFh4APnTd578Tu1eiOaES+XCq2iIY+ZXfGHQYhiRJxzEnNOwwS+jB
duLXImUCoPHzJVkCMvvAiHUbMow9T3EugyX6C6PDzYARloLDfdtwykEfhqjZHDxd
y4gqZu8CgYEA2ba3jX9Sb2qa/gMCC1XxU3TQiWiWPWWe6iOvyGnTKcF+oc1EJ+BF
7HRvNHPISQDSOYz+8iBkQacDE2JNtdSf9IDIUU5sNdR7iuWnGDlCOUJAlF++1Y2i
7a51Uj7DbieVrEl4GLgXoHeSgQxF6URwuj9O7i8oM8WgwBqnb6K2Q6sCgYEAwqR/
ti+4ovYw+tQaceAMbAbhV0IZnIIIwA2nZLouYvFhLQZBXaNt+0AbWvHkLyXnb1Jw
xb1z/pjvBrGkumBwbMRTQMP2ULedoVH9zCK/JK1O8J+UuuKU9DtufC8ckt0bVtOi
NJYLWnHOprEI/dAk68DNpZeJSkFxm+S1/dOxZHMCgYA417ru57pHOsdC4Ngsy4CZ
sJst9S+c0iZ+rVic8/xdH5cHecd8vdKj3PaX9E7ruJoqyoRaBVkHxypHalgtzFkD
BojGqboZB+RFrJZG/dQrjP+9fY4exb8vXWhmU9rErPMoK3p+wbnxfKa0qNasA+GG
zza1e3x8n/HLlmn2/L2nxwJ/SP1m5ur+Uh4AQA9J22opPllWJ2KiOA6LOXnlS+CF
hJT/2+J8oKConY9ssq4C46tTHmvL3lstJEw1Vk1HeJyxjBgTIDZcJ+izM8uLYQGm
rBpRf+pX270cHnoq9Ga2UFyZ4/V43j9mAoSq+ddph8SGE+I5O9+XnEDuWYdqt8Sq
wQKBgQC2YcVkOkMbSdtUN7WA0U0dTRFKEdWmNDpHVTlxmoiMdlYqSfvhpdPkyUeS
EYHlHXrdpdaOQYTj1KsQ47lEjJWsX99CQafZMwPYMjLD6Enu5EcFw3Vw2XsnYVaD
IuVENcINUf3GatEgv9SkIrl4AoKJrZW4IUoT8lfGyyumApdqeg==
-----END RSA PRIVATE KEY-----
";

static SIGNING_KEY: LazyLock<CoreRsaPrivateSigningKey> = LazyLock::new(|| load_key(SIGNING_KEY_PEM));
static ROGUE_KEY: LazyLock<CoreRsaPrivateSigningKey> = LazyLock::new(|| load_key(ROGUE_KEY_PEM));

fn load_key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(KEY_ID.to_owned())))
        .expect("the embedded test key is valid PKCS#1 PEM")
}

/// The JWKS document: the public half of the signing key.
pub(super) fn jwks() -> Value {
    let mut jwk = serde_json::to_value(SIGNING_KEY.as_verification_key()).expect("a JWK serializes");
    // openidconnect leaves `alg` out of the JWK it derives; real providers publish it.
    jwk["alg"] = Value::from("RS256");
    serde_json::json!({ "keys": [jwk] })
}

/// What the ID token is about; the behaviour knobs may then spoil it on purpose.
pub(super) struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

pub(super) fn mint_id_token(input: &IdTokenInput<'_>, behaviour: &Behaviour) -> Result<String, String> {
    let issuer = if behaviour.id_token_wrong_issuer {
        WRONG_ISSUER
    } else {
        input.issuer
    };
    let audience = if behaviour.id_token_wrong_audience {
        WRONG_AUDIENCE
    } else {
        input.audience
    };
    let nonce = if behaviour.id_token_wrong_nonce {
        Some(WRONG_NONCE)
    } else {
        input.nonce
    };
    let key: &CoreRsaPrivateSigningKey = if behaviour.id_token_bad_signature {
        &ROGUE_KEY
    } else {
        &SIGNING_KEY
    };

    let now = Utc::now();
    let (standard, extra) = match &behaviour.id_token_person {
        Some(person) => person_claims(person),
        None => (
            standard_claims(),
            ExtraClaims {
                claims: serde_json::Map::new(),
            },
        ),
    };
    let claims = IdTokenClaims::new(
        IssuerUrl::new(issuer.to_owned()).map_err(|e| e.to_string())?,
        vec![Audience::new(audience.to_owned())],
        now + Duration::seconds(ID_TOKEN_TTL_SECS),
        now,
        standard,
        extra,
    )
    .set_nonce(nonce.map(|n| Nonce::new(n.to_owned())));

    let access_token = AccessToken::new(input.access_token.to_owned());
    openidconnect::IdToken::<
        ExtraClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access_token),
        None,
    )
    .map(|token| token.to_string())
    .map_err(|e| e.to_string())
}

fn person_claims(person: &IdTokenPerson) -> (StandardClaims<CoreGenderClaim>, ExtraClaims) {
    let standard = StandardClaims::new(SubjectIdentifier::new(person.subject.clone()))
        .set_email(Some(EndUserEmail::new(person.email.clone())))
        .set_email_verified(Some(person.email_verified));
    (
        standard,
        ExtraClaims {
            claims: person.claims.clone(),
        },
    )
}

fn standard_claims() -> StandardClaims<CoreGenderClaim> {
    StandardClaims::new(SubjectIdentifier::new(SUBJECT.to_owned()))
        .set_email(Some(EndUserEmail::new(EMAIL.to_owned())))
        .set_email_verified(Some(true))
        .set_name(Some(LocalizedClaim::from(EndUserName::new(NAME.to_owned()))))
}
