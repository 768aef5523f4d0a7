"""Real registries for berth's image tests.

Everything listens on 127.0.0.1 only and keeps its state in a temporary
directory that is removed at the end.

* Registry: Debian's docker-registry (distribution 2.8) on a free port, storage
  in a temp dir, deletes enabled. Variants: no auth, Basic auth (htpasswd,
  bcrypt), Bearer token auth (with a TokenServer), optional TLS, optional
  schema 1 pushes. Usable as a context manager.
* TokenServer: a small token service (stdlib http.server) issuing ES256 JWTs
  the registry trusts; it records every request it gets.
* FaultyProxy: an HTTP-aware TCP proxy in front of a registry that injects
  failures into chosen requests (blob GETs by default): reset after N body
  bytes, answer an error status, stall, corrupt a byte.
* RegistryClient: a urllib client for the registry API (Basic and Bearer auth)
  to upload blobs and manifests and to look at what a push left behind.

Python: Debian's python3 plus python3-cryptography (key, certificates, JWT
signatures). bcrypt hashes come from the stdlib `crypt` module (libcrypt's
$2b$), or from `htpasswd -B` (apache2-utils) when crypt is unavailable.
"""

import base64
import datetime
import fcntl
import hashlib
import http.server
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings

REGISTRY_BIN = "/usr/bin/docker-registry"
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0  # seconds for /v2/ to answer after spawning the registry
STOP_TIMEOUT = 10.0
POLL_STEP = 0.05

# Default credentials of the auth variants.
USER = "berth"
PASSWORD = "berth-secret"

SERVICE = "berth-test-registry"
ISSUER = "berth-test-token-issuer"

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MT_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
ALL_MANIFEST_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST,
                      MT_SCHEMA1_SIGNED, MT_SCHEMA1)

BLOB_GET_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _poll_until(predicate, timeout, step=POLL_STEP):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


# ---------------------------------------------------------------------------
# Passwords and keys


def bcrypt_hash(password):
    """A bcrypt hash of `password` ($2b$, cost 5 to keep logins fast).

    Uses the stdlib crypt module (libcrypt supports bcrypt on Debian 12);
    falls back to `htpasswd -nbB` from apache2-utils."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # deprecated in 3.11, gone in 3.13
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))
        if h and h.startswith("$2"):
            return h
    except (ImportError, AttributeError, OSError):
        pass
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise RuntimeError("no bcrypt implementation: neither Python's crypt module nor "
                           "htpasswd (apache2-utils) is available")
    out = subprocess.run([htpasswd, "-nbB", "-C", "5", "x", password], capture_output=True,
                         text=True, check=True, timeout=30)
    return out.stdout.strip().split(":", 1)[1]


def write_htpasswd(path, users):
    """Write an htpasswd file with bcrypt hashes for {user: password}."""
    with open(path, "w") as f:
        for user, password in users.items():
            f.write("%s:%s\n" % (user, bcrypt_hash(password)))
    return path


def libtrust_key_id(public_key):
    """The key ID docker's libtrust derives from a public key (what the
    registry matches a JWT's `kid` header against)."""
    from cryptography.hazmat.primitives import serialization
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


class SigningKey:
    """An EC P-256 key with a self-signed certificate (PEM files in `dir`)."""

    def __init__(self, dir, name="token", san_ips=(), san_dns=()):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import ipaddress

        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test %s" % name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(subject)
                   .public_key(self.key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
        sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in san_ips]
        sans += [x509.DNSName(d) for d in san_dns]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        self.cert = builder.sign(self.key, hashes.SHA256())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.cert_path = os.path.join(dir, "%s.crt" % name)
        self.key_path = os.path.join(dir, "%s.key" % name)
        with open(self.cert_path, "wb") as f:
            f.write(self.cert_pem)
        with open(self.key_path, "wb") as f:
            f.write(self.key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
        os.chmod(self.key_path, 0o600)
        self.kid = libtrust_key_id(self.key.public_key())

    def sign_es256(self, data):
        """JWS ES256 signature (raw r||s) of `data`."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def jwk(self):
        """The public key as a libtrust JWK (used by schema 1 signatures)."""
        nums = self.key.public_key().public_numbers()
        return {"crv": "P-256", "kid": self.kid, "kty": "EC",
                "x": b64url(nums.x.to_bytes(32, "big")), "y": b64url(nums.y.to_bytes(32, "big"))}

    def jwt(self, claims):
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        signing_input = b64url(json.dumps(header, separators=(",", ":"))) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")))
        return signing_input + "." + b64url(self.sign_es256(signing_input.encode()))


def decode_jwt(token):
    """(header, claims) of a JWT, without verifying it."""
    def dec(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    h, c, _ = token.split(".")
    return dec(h), dec(c)


# ---------------------------------------------------------------------------
# Token server


def parse_scope(scope):
    """'repository:name:pull,push' -> ('repository', 'name', ['pull', 'push'])."""
    rest, _, actions = scope.rpartition(":")
    typ, _, name = rest.partition(":")
    return typ, name, [a for a in actions.split(",") if a]


class TokenServer:
    """A token service for the registry's `auth.token` config.

    `users` maps user -> password. A request with valid Basic credentials gets
    every action it asks for; a request without credentials gets the
    `anonymous_actions` (nothing by default, so the registry answers 401
    insufficient_scope); wrong credentials get 401 from the token server.
    GET (docker's basic flow) and POST (OAuth2 password / refresh_token
    grants) are both served.

    Every request is appended to `self.requests` as a dict:
      method, path, service, scopes (list of scope strings as received),
      account, client_id, offline_token, grant_type, credentials (True when
      Basic credentials or a password/refresh token came), user (the user
      they named, or None), status, granted (the access list put in the
      token), time (time.monotonic()).
    """

    def __init__(self, workdir, users=None, anonymous_actions=(), expires_in=300,
                 service=SERVICE, issuer=ISSUER):
        self.workdir = workdir
        self.users = dict({USER: PASSWORD} if users is None else users)
        self.anonymous_actions = tuple(anonymous_actions)
        self.expires_in = expires_in
        self.service = service
        self.issuer = issuer
        self.key = SigningKey(workdir, "token")
        self.requests = []
        self.fail_next = []  # statuses to answer, in order, before serving normally
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self._refresh_tokens = {}

    # -- lifecycle ------------------------------------------------------
    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self._httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="token-server")
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(STOP_TIMEOUT)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def realm(self):
        return "http://%s:%d/token" % (LOOPBACK, self.port)

    @property
    def cert_path(self):
        """The certificate bundle the registry trusts (rootcertbundle)."""
        return self.key.cert_path

    # -- records --------------------------------------------------------
    def clear(self):
        with self._lock:
            del self.requests[:]

    def scopes(self):
        """Every scope string received, in order, all requests together."""
        with self._lock:
            return [s for r in self.requests for s in r["scopes"]]

    def requests_for(self, scope):
        with self._lock:
            return [r for r in self.requests if scope in r["scopes"]]

    # -- serving --------------------------------------------------------
    def issue(self, subject, access, expires_in=None):
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject or "", "aud": self.service,
                  "exp": now + (expires_in or self.expires_in), "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        return self.key.jwt(claims)

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        form = {}
        if method == "POST":
            n = int(h.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(h.rfile.read(n).decode("utf-8", "replace"))

        def arg(name):
            v = form.get(name) or query.get(name)
            return v[0] if v else None

        scopes = []
        for s in (query.get("scope", []) + form.get("scope", [])):
            scopes += s.split(" ")  # OAuth2 POSTs join scopes with spaces
        rec = {"method": method, "path": url.path, "service": arg("service"), "scopes": scopes,
               "account": arg("account"), "client_id": arg("client_id"),
               "offline_token": arg("offline_token") == "true" or arg("access_type") == "offline",
               "grant_type": arg("grant_type"), "credentials": False, "user": None,
               "status": None, "granted": [], "time": time.monotonic()}

        status, body = self._serve(h, method, url.path, rec, arg, scopes)
        rec["status"] = status
        with self._lock:
            self.requests.append(rec)
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _serve(self, h, method, path, rec, arg, scopes):
        with self._lock:
            forced = self.fail_next.pop(0) if self.fail_next else None
        if forced is not None:
            return forced, {"errors": [{"code": "UNAVAILABLE", "message": "injected failure"}]}
        if path != "/token":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
        if arg("service") not in (None, self.service):
            return 400, {"errors": [{"code": "INVALID", "message": "unknown service"}]}

        user = None
        authed = False
        auth = h.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            rec["credentials"] = True
            try:
                u, _, p = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                u, p = None, None
            rec["user"] = u
            if u not in self.users or self.users[u] != p:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
            user, authed = u, True
        elif method == "POST" and arg("grant_type") == "password":
            rec["credentials"] = True
            u, p = arg("username"), arg("password")
            rec["user"] = u
            if u not in self.users or self.users[u] != p:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
            user, authed = u, True
        elif method == "POST" and arg("grant_type") == "refresh_token":
            rec["credentials"] = True
            u = self._refresh_tokens.get(arg("refresh_token"))
            rec["user"] = u
            if u is None:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad refresh token"}]}
            user, authed = u, True
        elif method == "POST":
            return 400, {"errors": [{"code": "UNSUPPORTED", "message": "unsupported grant_type"}]}

        access = []
        for s in scopes:
            typ, name, actions = parse_scope(s)
            allowed = actions if authed else [a for a in actions if a in self.anonymous_actions]
            if allowed:
                access.append({"type": typ, "name": name, "actions": allowed})
        rec["granted"] = access
        token = self.issue(user, access)
        body = {"token": token, "access_token": token, "expires_in": self.expires_in,
                "issued_at": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")}
        if authed and rec["offline_token"]:
            rt = uuid.uuid4().hex
            self._refresh_tokens[rt] = user
            body["refresh_token"] = rt
        return 200, body


# ---------------------------------------------------------------------------
# The registry


class Registry:
    """Debian's docker-registry on 127.0.0.1:<free port>.

    auth: None (open), "basic" (htpasswd with `users`) or "token" (a
    TokenServer is started unless one is passed in `token_server`).
    tls=True serves HTTPS with a self-signed certificate for 127.0.0.1
    (`ca_path` is the certificate to trust). schema1=True lets clients push
    schema 1 (signed) manifests.

    Attributes once started: port, host ("127.0.0.1:PORT"), url, root (the
    storage directory), workdir, users, token_server, log_path.
    """

    def __init__(self, workdir=None, auth=None, users=None, token_server=None, tls=False,
                 schema1=False, extra_config=None):
        assert auth in (None, "basic", "token")
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="berth-reg-", dir="/tmp")
        self.auth = auth
        self.users = dict({USER: PASSWORD} if users is None else users)
        self.tls = tls
        self.schema1 = schema1
        self.extra_config = extra_config or {}
        self.root = os.path.join(self.workdir, "storage")
        self.config_path = os.path.join(self.workdir, "config.yml")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.token_server = token_server
        self._own_token_server = False
        self.proc = None
        self.port = None
        self.ca_path = None
        self._tls_key = None
        os.makedirs(self.root, exist_ok=True)

    # -- configuration --------------------------------------------------
    def _config(self):
        cfg = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": self.root},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": "%s:%d" % (LOOPBACK, self.port), "secret": "berth-test-secret",
                     "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if self.tls:
            cfg["http"]["tls"] = {"certificate": self._tls_key.cert_path,
                                  "key": self._tls_key.key_path}
        if self.schema1:
            cfg["compatibility"] = {"schema1": {"enabled": True}}
        if self.auth == "basic":
            cfg["auth"] = {"htpasswd": {"realm": "berth-test",
                                        "path": os.path.join(self.workdir, "htpasswd")}}
        elif self.auth == "token":
            ts = self.token_server
            cfg["auth"] = {"token": {"realm": ts.realm, "service": ts.service,
                                     "issuer": ts.issuer, "rootcertbundle": ts.cert_path}}
        for k, v in self.extra_config.items():
            cfg[k] = v
        return cfg

    # -- lifecycle ------------------------------------------------------
    @property
    def host(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        return "%s://%s" % (self.scheme, self.host)

    def start(self):
        if self.auth == "basic":
            write_htpasswd(os.path.join(self.workdir, "htpasswd"), self.users)
        if self.auth == "token" and self.token_server is None:
            self.token_server = TokenServer(self.workdir, users=self.users).start()
            self._own_token_server = True
        if self.tls and self._tls_key is None:
            self._tls_key = SigningKey(self.workdir, "registry-tls", san_ips=(LOOPBACK,),
                                       san_dns=("localhost",))
            self.ca_path = self._tls_key.cert_path
        last_error = None
        for _ in range(5):  # the free port may be taken between probe and bind
            self.port = free_port()
            with open(self.config_path, "w") as f:
                json.dump(self._config(), f, indent=1)  # YAML is a superset of JSON
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config_path],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             cwd=self.workdir)
            finally:
                log.close()
            ok = _poll_until(lambda: self.proc.poll() is not None or self._probe(), START_TIMEOUT)
            if ok and self.proc.poll() is None:
                return self
            last_error = "exited with %r" % self.proc.poll() if self.proc.poll() is not None \
                else "no answer on /v2/ within %.0fs" % START_TIMEOUT
            self._kill()
            if "address already in use" not in self.log():
                break
        log = self.log()[-4000:]
        self.stop()
        raise RuntimeError("docker-registry did not start (%s):\n%s" % (last_error, log))

    def _probe(self):
        try:
            status, _, _ = http_request("GET", self.url + "/v2/", timeout=1.0, ca=self.ca_path)
            return status in (200, 401)
        except OSError:
            return False

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)

    def stop(self):
        self._kill()
        if self._own_token_server and self.token_server is not None:
            self.token_server.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # -- helpers --------------------------------------------------------
    @property
    def creds(self):
        """'user:password' for skopeo's --dest-creds/--creds (None when open)."""
        if self.auth is None:
            return None
        u = next(iter(self.users))
        return "%s:%s" % (u, self.users[u])

    def client(self, user=None, password=None, anonymous=False):
        """A RegistryClient; with the first configured user unless
        anonymous or other credentials are given."""
        if not anonymous and user is None and self.auth is not None:
            user = next(iter(self.users))
            password = self.users[user]
        return RegistryClient(self.url, user, password, ca=self.ca_path)

    def ref(self, name, tag="latest"):
        """'127.0.0.1:PORT/name:tag' (or @digest when tag starts with sha256:)."""
        sep = "@" if tag.startswith("sha256:") else ":"
        return "%s/%s%s%s" % (self.host, name, sep, tag)

    def blob_files(self):
        """Digests of every blob in the storage directory."""
        base = os.path.join(self.root, "docker/registry/v2/blobs/sha256")
        out = []
        for dirpath, _, files in os.walk(base):
            if "data" in files:
                out.append("sha256:" + os.path.basename(dirpath))
        return sorted(out)


# ---------------------------------------------------------------------------
# A small HTTP client


def _ssl_context(ca):
    import ssl
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    return ctx


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def http_request(method, url, headers=None, body=None, timeout=30, ca=None, follow=True):
    """One request with urllib; returns (status, headers, body) for every
    status (no exception on 4xx/5xx)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    handlers = []
    if url.startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(ca)))
    if not follow:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        try:
            data = e.read()
        except OSError:
            data = b""
        return e.code, e.headers, data


def parse_challenge(value):
    """'Bearer realm="x",service="y"' -> ('bearer', {'realm': 'x', ...})."""
    scheme, _, rest = (value or "").strip().partition(" ")
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryError(AssertionError):
    pass


class RegistryClient:
    """Registry API over urllib with Basic and Bearer auth (tokens cached
    per scope). Methods raise RegistryError on unexpected statuses."""

    def __init__(self, base_url, user=None, password=None, ca=None, timeout=60):
        self.base = base_url.rstrip("/")
        self.user = user
        self.password = password
        self.ca = ca
        self.timeout = timeout
        self.tokens = {}  # scope -> token
        self.token_requests = 0

    def _basic(self):
        raw = ("%s:%s" % (self.user, self.password)).encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _token(self, params, scope):
        q = {"service": params.get("service", "")}
        if scope:
            q["scope"] = scope
        if self.user:
            q["account"] = self.user
        url = params["realm"] + "?" + urllib.parse.urlencode(q)
        h = {"Authorization": self._basic()} if self.user else {}
        self.token_requests += 1
        status, _, body = http_request("GET", url, h, timeout=self.timeout, ca=self.ca)
        if status != 200:
            raise RegistryError("token server answered %d: %r" % (status, body[:300]))
        d = json.loads(body)
        return d.get("token") or d.get("access_token")

    def request(self, method, path, headers=None, body=None, scope=None, follow=True):
        """(status, headers, body). `path` is relative to the base URL or
        absolute. Handles one auth challenge."""
        url = path if "://" in path else self.base + path
        h = dict(headers or {})
        if scope in self.tokens:
            h["Authorization"] = "Bearer " + self.tokens[scope]
        elif self.user and scope is None:
            h["Authorization"] = self._basic()
        status, rh, data = http_request(method, url, h, body, self.timeout, self.ca, follow)
        if status != 401:
            return status, rh, data
        scheme, params = parse_challenge(rh.get("WWW-Authenticate"))
        if scheme == "basic" and self.user:
            h["Authorization"] = self._basic()
        elif scheme == "bearer":
            want = params.get("scope") or scope
            self.tokens[want] = self._token(params, want)
            h["Authorization"] = "Bearer " + self.tokens[want]
        else:
            return status, rh, data
        return http_request(method, url, h, body, self.timeout, self.ca, follow)

    @staticmethod
    def _scope(name, actions="pull"):
        return "repository:%s:%s" % (name, actions)

    def ping(self):
        return self.request("GET", "/v2/")[0]

    def get_manifest(self, name, ref, accept=ALL_MANIFEST_TYPES):
        """(bytes, media type, digest) of a manifest."""
        status, h, data = self.request("GET", "/v2/%s/manifests/%s" % (name, ref),
                                       {"Accept": ", ".join(accept)}, scope=self._scope(name))
        if status != 200:
            raise RegistryError("GET manifest %s:%s: %d %r" % (name, ref, status, data[:300]))
        return data, h.get("Content-Type"), h.get("Docker-Content-Digest") or sha256_digest(data)

    def manifest_exists(self, name, ref):
        status, _, _ = self.request("HEAD", "/v2/%s/manifests/%s" % (name, ref),
                                    {"Accept": ", ".join(ALL_MANIFEST_TYPES)},
                                    scope=self._scope(name))
        return status == 200

    def put_manifest(self, name, ref, data, media_type):
        """Upload a manifest; returns its digest."""
        if not isinstance(data, bytes):
            data = json.dumps(data, indent=3).encode()
        status, h, body = self.request("PUT", "/v2/%s/manifests/%s" % (name, ref),
                                       {"Content-Type": media_type}, data,
                                       scope=self._scope(name, "pull,push"))
        if status != 201:
            raise RegistryError("PUT manifest %s:%s: %d %r" % (name, ref, status, body[:500]))
        return h.get("Docker-Content-Digest") or sha256_digest(data)

    def blob_exists(self, name, digest):
        status, _, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (name, digest),
                                    scope=self._scope(name))
        return status == 200

    def get_blob(self, name, digest):
        status, _, data = self.request("GET", "/v2/%s/blobs/%s" % (name, digest),
                                       scope=self._scope(name))
        if status != 200:
            raise RegistryError("GET blob %s@%s: %d" % (name, digest, status))
        return data

    def upload_blob(self, name, data, digest=None):
        """Monolithic upload (POST then PUT); skipped when the blob is there.
        Returns the digest."""
        digest = digest or sha256_digest(data)
        scope = self._scope(name, "pull,push")
        if self.request("HEAD", "/v2/%s/blobs/%s" % (name, digest), scope=scope)[0] == 200:
            return digest
        status, h, body = self.request("POST", "/v2/%s/blobs/uploads/" % name, scope=scope,
                                       body=b"")
        if status != 202:
            raise RegistryError("POST upload %s: %d %r" % (name, status, body[:300]))
        loc = urllib.parse.urljoin(self.base + "/", h["Location"])
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        status, _, body = self.request("PUT", loc, {"Content-Type": "application/octet-stream"},
                                       data, scope=scope)
        if status != 201:
            raise RegistryError("PUT upload %s: %d %r" % (name, status, body[:300]))
        return digest

    def tags(self, name):
        status, _, data = self.request("GET", "/v2/%s/tags/list" % name, scope=self._scope(name))
        if status == 404:
            return []
        if status != 200:
            raise RegistryError("tags %s: %d" % (name, status))
        return sorted(json.loads(data).get("tags") or [])

    def catalog(self):
        status, _, data = self.request("GET", "/v2/_catalog", scope="registry:catalog:*")
        if status != 200:
            raise RegistryError("catalog: %d" % status)
        return json.loads(data).get("repositories") or []

    def delete_manifest(self, name, digest):
        return self.request("DELETE", "/v2/%s/manifests/%s" % (name, digest),
                            scope=self._scope(name, "delete"))[0]


def raw_get(host, path, headers=None, timeout=10.0):
    """GET over a plain socket, reading until the body is complete, the
    connection ends or `timeout` passes without data. Unlike http.client it
    keeps every body byte that arrived before a reset. Returns a dict:
    status, headers (lower-case names), body, error (None, "reset",
    "eof" = closed before Content-Length bytes, or "timeout")."""
    h, _, port = host.rpartition(":")
    s = socket.create_connection((h, int(port)), timeout=timeout)
    try:
        lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Connection: close"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        error = None
        head = None
        want = None
        while True:
            if head is None and b"\r\n\r\n" in buf:
                raw, buf = buf.split(b"\r\n\r\n", 1)
                head = raw.decode("latin-1").split("\r\n")
                hdrs = dict((k.strip().lower(), v.strip()) for k, _, v in
                            (x.partition(":") for x in head[1:]))
                want = int(hdrs["content-length"]) if "content-length" in hdrs else None
            if want is not None and len(buf) >= want:
                break
            try:
                data = s.recv(262144)
            except ConnectionResetError:
                error = "reset"
                break
            except socket.timeout:
                error = "timeout"
                break
            if not data:
                if want is not None or head is None:
                    error = "eof"
                break
            buf += data
    finally:
        s.close()
    if head is None:
        return {"status": None, "headers": {}, "body": buf, "error": error or "eof"}
    return {"status": int(head[0].split(" ")[1]), "headers": hdrs, "body": buf, "error": error}


# ---------------------------------------------------------------------------
# Faulty proxy


class Fault:
    """One injected failure. kind: 'reset' (RST after `after` body bytes),
    'close' (clean FIN after `after` body bytes), 'status' (answer `status`
    without asking the registry), 'stall' (pause `seconds` after `after` body
    bytes; None = until the client or the proxy goes away, then close),
    'corrupt' (flip the body byte at offset `after`). `times` = how many
    matching requests it hits. `match`: 'blob' (blob GETs), 'manifest'
    (manifest GETs/HEADs), 'any', or a callable(method, path) -> bool;
    `digest` narrows 'blob' to one blob."""

    def __init__(self, kind, after=0, times=1, status=500, seconds=None, match="blob",
                 digest=None):
        self.kind = kind
        self.after = after
        self.times = times
        self.status = status
        self.seconds = seconds
        self.match = match
        self.digest = digest
        self.hits = 0

    def matches(self, method, path):
        if self.hits >= self.times:
            return False
        if callable(self.match):
            return self.match(method, path)
        if self.match == "any":
            return True
        if self.match == "blob":
            m = BLOB_GET_RE.match(path)
            return method == "GET" and m is not None and \
                (self.digest is None or m.group("digest") == self.digest)
        if self.match == "manifest":
            return method in ("GET", "HEAD") and MANIFEST_RE.match(path) is not None
        raise ValueError("bad match %r" % self.match)

    def __repr__(self):
        return "<Fault %s after=%d status=%d hits=%d/%d>" % (self.kind, self.after, self.status,
                                                             self.hits, self.times)


class _Closed(Exception):
    pass


class FaultyProxy:
    """HTTP/1.1-aware proxy on 127.0.0.1:<free port> in front of
    `upstream` ("host:port", plain HTTP). Requests are relayed one by one
    (keep-alive preserved); faults are checked in the order they were added.

    self.requests lists every request as a dict: method, path, range (the
    Range header or None), status (as sent to the client), fault (kind or
    None), body_bytes (response body bytes sent to the client), conn (a
    connection number), time.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        uh, _, up = upstream.rpartition(":")
        self.upstream_addr = (uh, int(up))
        self.faults = []
        self.requests = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = None
        self._threads = []
        self._conns = set()
        self._nconn = 0

    # -- fault API ------------------------------------------------------
    def add(self, fault):
        with self._lock:
            self.faults.append(fault)
        return fault

    def reset_after(self, nbytes, times=1, **kw):
        """RST the client connection after `nbytes` response body bytes."""
        return self.add(Fault("reset", after=nbytes, times=times, **kw))

    def close_after(self, nbytes, times=1, **kw):
        """Close the connection cleanly (FIN) after `nbytes` body bytes."""
        return self.add(Fault("close", after=nbytes, times=times, **kw))

    def fail(self, status=500, times=1, **kw):
        """Answer `status` to the first `times` matching requests."""
        return self.add(Fault("status", status=status, times=times, **kw))

    def stall(self, after=0, seconds=None, times=1, **kw):
        """Stop sending after `after` body bytes for `seconds` (None: until
        the client gives up or the proxy stops; the connection is closed
        then)."""
        return self.add(Fault("stall", after=after, seconds=seconds, times=times, **kw))

    def corrupt(self, offset=0, times=1, **kw):
        """Flip the bits of the body byte at `offset` (a digest mismatch)."""
        return self.add(Fault("corrupt", after=offset, times=times, **kw))

    def clear_faults(self):
        with self._lock:
            self.faults = []

    def clear(self):
        with self._lock:
            self.faults = []
            self.requests = []

    def requests_matching(self, pattern, method="GET"):
        with self._lock:
            return [r for r in self.requests if r["method"] == method
                    and re.search(pattern, r["path"])]

    # -- lifecycle ------------------------------------------------------
    @property
    def host(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def url(self):
        return "http://" + self.host

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True, name="faulty-proxy")
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(STOP_TIMEOUT)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                self._nconn += 1
                n = self._nconn
                self._conns.add(c)
                self._threads = [t for t in self._threads if t.is_alive()]
            t = threading.Thread(target=self._serve_conn, args=(c, n), daemon=True)
            self._threads.append(t)
            t.start()

    # -- relaying -------------------------------------------------------
    def _serve_conn(self, client, n):
        client.settimeout(None)
        cbuf = _Buffered(client, self._stop)
        up = None
        try:
            while not self._stop.is_set():
                try:
                    if not cbuf.looks_like_http():
                        # A TLS ClientHello, say: answer as Go's server does
                        # so HTTPS-first clients fall back to plain HTTP.
                        client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                       b"Connection: close\r\n\r\n")
                        break
                    head = cbuf.read_head()
                except _Closed:
                    break
                if head is None:
                    break
                method, path, version, headers = _parse_request_head(head)
                with self._lock:
                    fault = next((f for f in self.faults if f.matches(method, path)), None)
                    if fault is not None:
                        fault.hits += 1
                rec = {"method": method, "path": path, "range": _hget(headers, "Range"),
                       "status": None, "fault": fault.kind if fault else None, "body_bytes": 0,
                       "conn": n, "time": time.monotonic()}
                with self._lock:
                    self.requests.append(rec)

                expect = (_hget(headers, "Expect") or "").lower() == "100-continue"
                headers = [(k, v) for k, v in headers if k.lower() != "expect"]
                if fault is not None and fault.kind == "status":
                    cbuf.drain_body(headers, None)  # discard any request body
                    body = json.dumps({"errors": [{"code": "UNKNOWN", "message":
                                                   "injected failure (%d)" % fault.status}]}).encode()
                    rec["status"] = fault.status
                    client.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (fault.status, len(body), body))
                    continue
                if up is None:
                    up = socket.create_connection(self.upstream_addr, timeout=30)
                    up.settimeout(None)
                    upbuf = _Buffered(up, self._stop)
                if expect:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                up.sendall(_build_head("%s %s %s" % (method, path, version), headers))
                cbuf.drain_body(headers, up)
                keep = self._relay_response(method, upbuf, client, rec, fault)
                if not keep:
                    break
                if (_hget(headers, "Connection") or "").lower() == "close":
                    break
        except (OSError, _Closed):
            pass
        finally:
            with self._lock:
                self._conns.discard(client)
            for s in (client, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def _relay_response(self, method, upbuf, client, rec, fault):
        """Relay one response; False when the connection must end."""
        while True:
            head = upbuf.read_head()
            if head is None:
                return False
            status = int(head.split(b" ", 2)[1])
            if 100 <= status < 200 and status != 101:
                continue  # interim responses: already answered 100 ourselves
            break
        rec["status"] = status
        headers = _parse_headers(head)
        client.sendall(head + b"\r\n\r\n")
        no_body = method == "HEAD" or status in (204, 304)
        te = (_hget(headers, "Transfer-Encoding") or "").lower()
        cl = _hget(headers, "Content-Length")
        if no_body:
            source = iter(())
        elif "chunked" in te:
            source = upbuf.iter_chunked_raw()
        elif cl is not None:
            source = upbuf.iter_exact(int(cl))
        else:
            source = upbuf.iter_until_close()

        sent = 0
        active = fault if (fault is not None and fault.kind != "status") else None
        for piece in source:
            if active is not None and active.kind == "corrupt" and \
                    sent <= active.after < sent + len(piece):
                i = active.after - sent
                piece = piece[:i] + bytes([piece[i] ^ 0xFF]) + piece[i + 1:]
            if active is not None and active.kind in ("reset", "close", "stall") and \
                    sent + len(piece) >= active.after:
                first = piece[:active.after - sent]
                client.sendall(first)
                sent += len(first)
                rec["body_bytes"] = sent
                if active.kind == "reset":
                    _wait_sent(client, 2.0)
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.close()
                    return False
                if active.kind == "close":
                    _wait_sent(client, 2.0)
                    client.shutdown(socket.SHUT_RDWR)
                    return False
                # stall
                if not self._stall(client, active.seconds):
                    return False
                piece = piece[len(first):]
                active = None
            client.sendall(piece)
            sent += len(piece)
            rec["body_bytes"] = sent
        if active is not None and active.kind in ("reset", "close", "stall") and sent <= active.after:
            # The body was shorter than `after`: fail at its end.
            if active.kind == "stall":
                return self._stall(client, active.seconds)
            if active.kind == "reset":
                _wait_sent(client, 2.0)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
            return False
        conn = (_hget(headers, "Connection") or "").lower()
        return not (conn == "close" or (not no_body and cl is None and "chunked" not in te))

    def _stall(self, client, seconds):
        """Wait `seconds` (None: forever) unless the client closes or the
        proxy stops. True when the relay may continue."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self._stop.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return True
            r, _, _ = select.select([client], [], [], left)
            if r:
                try:
                    if not client.recv(1, socket.MSG_PEEK):
                        return False  # client closed
                except OSError:
                    return False
                time.sleep(left)  # client sent more (a pipelined request): keep stalling
        return False


def _wait_sent(sock, timeout):
    """Wait until the kernel has sent and got acks for everything we wrote
    (so a following RST does not drop bytes we promised to deliver)."""
    def empty():
        try:
            return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0] == 0
        except OSError:
            return True
    _poll_until(empty, timeout, 0.005)


def _hget(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def _parse_headers(head):
    lines = head.decode("latin-1").split("\r\n")[1:]
    out = []
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            out.append((k.strip(), v.strip()))
    return out


def _parse_request_head(head):
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    method, path, version = first.split(" ", 2)
    return method, path, version, _parse_headers(head)


def _build_head(first, headers):
    return ("\r\n".join([first] + ["%s: %s" % kv for kv in headers]) + "\r\n\r\n").encode("latin-1")


class _Buffered:
    """Reads from a socket with a buffer; raises _Closed at EOF mid-message."""

    def __init__(self, sock, stop):
        self.sock = sock
        self.stop = stop
        self.buf = b""

    def _recv(self):
        while True:
            if self.stop.is_set():
                raise _Closed()
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                break
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        return data

    def looks_like_http(self):
        """False when the next request does not start with a method token
        (True at EOF: read_head then reports it)."""
        while not self.buf:
            data = self._recv()
            if not data:
                return True
            self.buf += data
        return self.buf[:1].isalpha() and self.buf[:1].isupper()

    def read_head(self):
        """Bytes up to (not including) CRLFCRLF; None at a clean EOF."""
        while b"\r\n\r\n" not in self.buf:
            data = self._recv()
            if not data:
                if self.buf:
                    raise _Closed()
                return None
            self.buf += data
        i = self.buf.index(b"\r\n\r\n")
        head, self.buf = self.buf[:i], self.buf[i + 4:]
        return head

    def _read_line(self):
        while b"\r\n" not in self.buf:
            data = self._recv()
            if not data:
                raise _Closed()
            self.buf += data
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i + 2], self.buf[i + 2:]
        return line

    def iter_exact(self, n):
        while n > 0:
            if not self.buf:
                data = self._recv()
                if not data:
                    raise _Closed()
                self.buf = data
            piece, self.buf = self.buf[:n], self.buf[n:]
            n -= len(piece)
            yield piece

    def iter_until_close(self):
        if self.buf:
            piece, self.buf = self.buf, b""
            yield piece
        while True:
            data = self._recv()
            if not data:
                return
            yield data

    def iter_chunked_raw(self):
        """The chunked body as it came (framing included)."""
        while True:
            line = self._read_line()
            yield line
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    t = self._read_line()
                    yield t
                    if t == b"\r\n":
                        return
            for piece in self.iter_exact(size + 2):
                yield piece

    def drain_body(self, headers, dest):
        """Copy (or discard, dest=None) a request body framed by headers."""
        te = (_hget(headers, "Transfer-Encoding") or "").lower()
        cl = _hget(headers, "Content-Length")
        if "chunked" in te:
            it = self.iter_chunked_raw()
        elif cl is not None:
            it = self.iter_exact(int(cl))
        else:
            return
        for piece in it:
            if dest is not None:
                dest.sendall(piece)
