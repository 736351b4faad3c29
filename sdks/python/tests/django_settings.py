"""The minimal Django project the hasher tests run in."""

SECRET_KEY = "attache-tests"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
PASSWORD_HASHERS = [
    "attache.django.AttacheArgon2Hasher",
    "attache.django.AttacheBCryptSHA256Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
