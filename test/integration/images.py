"""Fixture images for berth's image tests, built without any daemon.

From Debian's busybox-static (/bin/busybox), umoci and skopeo; the layered
image's upper layers and the big image are tar streams written here with
tarfile, so their content is exactly what the test says. Every image lives in
an OCI image layout (a directory); skopeo pushes them to a registry (OCI or
Docker schema 2) and writes docker-archive / oci-archive tars; multi-platform
indexes and schema 1 manifests are uploaded with plain registry API requests.

Entry points:
  build_busybox(layout)           -> Image  tag "busybox"
  build_layered(layout)           -> Image  tag "layered" (busybox + 2 layers),
                                             .expected_tree describes its rootfs
  build_multiplatform(layout)     -> MultiPlatform (amd64 + arm64/v8)
  build_big(cache_dir, ...)       -> Image  5 x 30 MB random layers, cached
  push(image, dest, ...)          -> pushed manifest digest (skopeo)
  push_index(client, name, tag, multi, kind)  -> index digest (urllib)
  push_schema1(client, name, tag, image, key) -> manifest digest (urllib)
  docker_archive(image, path, name) / oci_archive(image, path, ref) -> path
  skopeo_inspect(ref, ...)        -> dict
  scan_tree(root) / compare_tree(expected, actual) -> description / problems
  Fixtures(workdir, cache_dir)    -> every fixture, built lazily once
"""

import concurrent.futures
import copy
import functools
import hashlib
import io
import json
import os
import random
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import zlib

import registry as reg

BUSYBOX = "/bin/busybox"
UMOCI = "umoci"
SKOPEO = "skopeo"

# Every timestamp in the fixtures is fixed so that rebuilding gives the same
# files; umoci's gzip output for the busybox layer is the same each time too.
FIXED_TIME = 1704067200  # 2024-01-01T00:00:00Z
FIXED_CREATED = "2024-01-01T00:00:00Z"
OLD_MTIME = 1000000000  # 2001-09-09T01:46:40Z, the "old mtime" file

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL_KEY = "org.berth.test.fixture"

MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _run(args, timeout=300, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(args), p.returncode, p.stdout,
                                                      p.stderr))
    return p


# ---------------------------------------------------------------------------
# OCI image layouts


class Layout:
    """An OCI image layout directory (oci-layout, index.json, blobs/)."""

    def __init__(self, path):
        self.path = path

    @classmethod
    def create(cls, path):
        """umoci init (an empty layout)."""
        if not os.path.exists(os.path.join(path, "oci-layout")):
            _run([UMOCI, "init", "--layout", path])
        return cls(path)

    def blob_path(self, digest):
        algo, _, hexd = digest.partition(":")
        return os.path.join(self.path, "blobs", algo, hexd)

    def read_blob(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def read_json(self, digest):
        return json.loads(self.read_blob(digest))

    def write_blob(self, data):
        """Store bytes; returns (digest, size)."""
        digest = "sha256:" + sha256_hex(data)
        p = self.blob_path(digest)
        if not os.path.exists(p):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            tmp = p + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, p)
        return digest, len(data)

    def write_json(self, obj, media_type):
        """Store a JSON document; returns its descriptor."""
        data = json.dumps(obj, indent=2).encode() + b"\n"
        digest, size = self.write_blob(data)
        return {"mediaType": media_type, "digest": digest, "size": size}

    def index(self):
        with open(os.path.join(self.path, "index.json")) as f:
            return json.load(f)

    def descriptor(self, tag):
        for d in self.index().get("manifests") or []:
            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return d
        raise KeyError("no tag %r in %s" % (tag, self.path))

    def set_tag(self, tag, descriptor):
        idx = self.index()
        ms = [d for d in idx.get("manifests") or []
              if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag]
        d = dict(descriptor)
        d["annotations"] = dict(d.get("annotations") or {})
        d["annotations"]["org.opencontainers.image.ref.name"] = tag
        ms.append(d)
        idx["manifests"] = ms
        tmp = os.path.join(self.path, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(idx, f)
        os.rename(tmp, os.path.join(self.path, "index.json"))

    def image(self, tag, name=None):
        return Image(self, tag, name or tag)


class Image:
    """One tagged image manifest in a Layout.

    ref ("oci:DIR:TAG" for skopeo), manifest (dict), manifest_bytes,
    manifest_digest, config (dict), config_digest, layers (descriptors, base
    first), diff_ids, platform ("linux/amd64"), size (sum of layer sizes),
    expected_tree (a tree description or None), name (fixture name)."""

    def __init__(self, layout, tag, name):
        self.layout = layout
        self.tag = tag
        self.name = name
        self.expected_tree = None
        self.reload()

    def reload(self):
        d = self.layout.descriptor(self.tag)
        self.manifest_digest = d["digest"]
        self.manifest_media_type = d["mediaType"]
        self.manifest_bytes = self.layout.read_blob(d["digest"])
        self.manifest = json.loads(self.manifest_bytes)
        self.config_digest = self.manifest["config"]["digest"]
        self.config_bytes = self.layout.read_blob(self.config_digest)
        self.config = json.loads(self.config_bytes)
        self.layers = self.manifest["layers"]
        self.diff_ids = self.config["rootfs"]["diff_ids"]

    @property
    def ref(self):
        return "oci:%s:%s" % (self.layout.path, self.tag)

    @property
    def platform(self):
        p = "%s/%s" % (self.config["os"], self.config["architecture"])
        if self.config.get("variant"):
            p += "/" + self.config["variant"]
        return p

    @property
    def size(self):
        return sum(layer["size"] for layer in self.layers)

    def layer_digests(self):
        return [layer["digest"] for layer in self.layers]

    def __repr__(self):
        return "<Image %s %s %d layers>" % (self.ref, self.manifest_digest[:19], len(self.layers))


# ---------------------------------------------------------------------------
# Layer specifications
#
# A spec is a list of dicts, each with "path" (relative, no leading slash)
# and "type": file, dir, symlink, hardlink, char, block, fifo, whiteout,
# opaque. Optional: mode (permission bits including setuid/setgid/sticky),
# uid, gid, data (bytes) or src (a host file to copy), target (symlink
# target, or the path a hard link points to), major, minor, mtime, xattrs
# ({name: bytes}). "whiteout" deletes `path` from lower layers; "opaque"
# hides everything lower layers have under the directory `path`.


def _e(type, path, **kw):
    d = {"type": type, "path": path}
    d.update(kw)
    return d


def busybox_applets():
    """Paths busybox installs its applets at (bin/sh, usr/bin/env, ...)."""
    out = _run([BUSYBOX, "--list-full"]).stdout.split()
    return sorted(p for p in out if p and p != "bin/busybox")


PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          b"berth:x:1000:1000:berth test user:/home/berth:/bin/sh\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = (b"root:x:0:\n"
         b"daemon:x:1:\n"
         b"berth:x:1000:\n"
         b"nogroup:x:65534:\n")


def busybox_spec():
    """The busybox image's only layer. Besides busybox and its applet links
    it holds what the layered image deletes, hides and replaces."""
    spec = []
    dirs = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
            "etc": 0o755, "root": 0o700, "tmp": 0o1777, "home": 0o755, "proc": 0o555,
            "sys": 0o555, "dev": 0o755, "var": 0o755, "opaque": 0o755, "opaque/sub": 0o755,
            "gone": 0o755, "swap": 0o755, "swap/was-dir": 0o755}
    for p, m in sorted(dirs.items()):
        spec.append(_e("dir", p, mode=m))
    spec.append(_e("dir", "home/berth", mode=0o755, uid=1000, gid=1000))
    spec.append(_e("file", "bin/busybox", mode=0o755, src=BUSYBOX))
    for p in busybox_applets():
        spec.append(_e("symlink", p, target="/bin/busybox"))
    spec += [
        _e("file", "etc/passwd", mode=0o644, data=PASSWD),
        _e("file", "etc/group", mode=0o644, data=GROUP),
        _e("file", "etc/motd", mode=0o644, data=b"berth busybox fixture (deleted in layered)\n"),
        _e("file", "etc/berth-fixture", mode=0o644, data=b"busybox\n"),
        _e("file", "opaque/lower-1", mode=0o644, data=b"lower 1 (hidden in layered)\n"),
        _e("file", "opaque/sub/lower-2", mode=0o644, data=b"lower 2 (hidden in layered)\n"),
        _e("file", "gone/file", mode=0o644, data=b"in a directory deleted in layered\n"),
        _e("file", "swap/was-file", mode=0o644, data=b"a file, a directory in layered\n"),
        _e("file", "swap/was-dir/inner", mode=0o644, data=b"in a directory that becomes a file\n"),
    ]
    return spec


LONG_NAME = "data/long/" + "a-very-long-file-name-" * 6 + "end"  # > 100 bytes: a PAX path


def layered_layer2_spec():
    """Layer 2 of the layered image: deletions, opaque dir, special files."""
    return [
        _e("dir", "etc", mode=0o755),
        _e("whiteout", "etc/motd"),
        _e("file", "etc/berth-fixture", mode=0o644, data=b"layered\n"),
        _e("whiteout", "gone"),
        _e("dir", "opaque", mode=0o755),
        _e("opaque", "opaque"),
        _e("file", "opaque/upper-2", mode=0o644, data=b"upper 2\n"),
        _e("dir", "swap", mode=0o755),
        _e("dir", "swap/was-file", mode=0o755),
        _e("file", "swap/was-file/inner", mode=0o644, data=b"was a file below\n"),
        _e("file", "swap/was-dir", mode=0o644, data=b"was a directory below\n"),
        _e("dir", "data", mode=0o755),
        _e("file", "data/hardlink-a", mode=0o644, data=b"two names, one inode\n"),
        _e("hardlink", "data/hardlink-b", target="data/hardlink-a"),
        _e("symlink", "data/symlink-rel", target="hardlink-a"),
        _e("symlink", "data/symlink-abs", target="/etc/passwd"),
        _e("symlink", "data/symlink-dir", target="../opaque"),
        _e("symlink", "data/symlink-dangling", target="/does/not/exist"),
        _e("char", "dev-null-copy", mode=0o666, major=1, minor=3),
        _e("fifo", "data/fifo", mode=0o640),
        _e("file", "data/setuid", mode=0o4755, data=b"#!/bin/sh\necho setuid\n"),
        _e("dir", "data/setgid-dir", mode=0o2775, gid=1000),
        _e("file", "data/private", mode=0o600, data=b"secret\n"),
        _e("file", "data/exec", mode=0o755, data=b"#!/bin/sh\necho exec\n"),
        _e("file", "data/owned", mode=0o644, uid=1000, gid=1000, data=b"owned by 1000\n"),
        _e("dir", "data/owned-dir", mode=0o750, uid=1000, gid=1000),
        _e("file", "data/owned-dir/file", mode=0o640, uid=1000, gid=1000, data=b"1000 too\n"),
        _e("file", "data/xattr", mode=0o644, data=b"has a user xattr\n",
           xattrs={"user.test": b"berth-xattr-value"}),
        _e("file", "data/old", mode=0o644, data=b"old mtime\n", mtime=OLD_MTIME),
        _e("file", "data/empty", mode=0o644, data=b""),
        _e("dir", "data/long", mode=0o755),
        _e("file", LONG_NAME, mode=0o644, data=b"long name\n"),
        _e("file", "data/\u00fcn\u00efc\u00f6d\u00e9", mode=0o644, data=b"utf-8 name\n"),
    ]


def layered_layer3_spec():
    """Layer 3: a file into the opaque directory; a directory whose lower
    instance was deleted comes back."""
    return [
        _e("dir", "opaque", mode=0o755),
        _e("file", "opaque/upper-3", mode=0o644, data=b"upper 3\n"),
        _e("dir", "gone", mode=0o711),
        _e("file", "gone/again", mode=0o644, data=b"back after a whiteout\n"),
    ]


def _content(e):
    if "data" in e:
        return e["data"]
    if "src" in e:
        with open(e["src"], "rb") as f:
            return f.read()
    return b""


def materialize(spec, root):
    """Create the entries of a spec under `root` (as root: owners, device
    nodes, xattrs). Whiteout entries are not allowed here."""
    os.makedirs(root, exist_ok=True)
    dirs = []
    for e in spec:
        p = os.path.join(root, e["path"])
        t = e["type"]
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if t == "dir":
            os.makedirs(p, exist_ok=True)
            dirs.append(e)
        elif t == "file":
            with open(p, "wb") as f:
                f.write(_content(e))
        elif t == "symlink":
            os.symlink(e["target"], p)
        elif t == "hardlink":
            os.link(os.path.join(root, e["target"]), p)
            continue
        elif t == "char":
            os.mknod(p, stat.S_IFCHR | e.get("mode", 0o644), os.makedev(e["major"], e["minor"]))
        elif t == "block":
            os.mknod(p, stat.S_IFBLK | e.get("mode", 0o644), os.makedev(e["major"], e["minor"]))
        elif t == "fifo":
            os.mkfifo(p)
        else:
            raise ValueError("cannot materialize %r" % e)
        os.lchown(p, e.get("uid", 0), e.get("gid", 0))
        if t != "symlink":
            os.chmod(p, e.get("mode", 0o755 if t == "dir" else 0o644))
        for k, v in (e.get("xattrs") or {}).items():
            os.setxattr(p, k, v, follow_symlinks=False)
        if t != "dir":
            mt = e.get("mtime", FIXED_TIME)
            os.utime(p, (mt, mt), follow_symlinks=False)
    for e in reversed(dirs):  # after their children were created
        mt = e.get("mtime", FIXED_TIME)
        os.utime(os.path.join(root, e["path"]), (mt, mt))
    os.utime(root, (FIXED_TIME, FIXED_TIME))


def spec_tar(spec, fileobj):
    """Write a spec as a layer tar (PAX) to fileobj, whiteouts as
    `.wh.NAME` and opaque directories as `DIR/.wh..wh..opq`."""
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for e in spec:
            _add_tar_entry(tf, e)


def _add_tar_entry(tf, e, reader=None):
    t = e["type"]
    path = e["path"]
    if t == "whiteout":
        d, b = os.path.split(path)
        path = os.path.join(d, ".wh." + b)
    elif t == "opaque":
        path = os.path.join(path, ".wh..wh..opq")
    ti = tarfile.TarInfo(path + ("/" if t == "dir" else ""))
    ti.mtime = e.get("mtime", FIXED_TIME)
    ti.uid = e.get("uid", 0)
    ti.gid = e.get("gid", 0)
    ti.uname = ti.gname = ""
    ti.mode = e.get("mode", 0o755 if t == "dir" else (0o777 if t == "symlink" else 0o644))
    data = None
    if t in ("file", "whiteout", "opaque"):
        ti.type = tarfile.REGTYPE
        if t == "file":
            if reader is not None:
                ti.size = e["size"]
            else:
                data = _content(e)
                ti.size = len(data)
        else:
            ti.mode = 0o644
    elif t == "dir":
        ti.type = tarfile.DIRTYPE
    elif t == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = e["target"]
    elif t == "hardlink":
        ti.type = tarfile.LNKTYPE
        ti.linkname = e["target"]
    elif t in ("char", "block"):
        ti.type = tarfile.CHRTYPE if t == "char" else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = e["major"], e["minor"]
    elif t == "fifo":
        ti.type = tarfile.FIFOTYPE
    else:
        raise ValueError(e)
    if e.get("xattrs"):
        ti.pax_headers = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
                          for k, v in e["xattrs"].items()}
    if reader is not None:
        tf.addfile(ti, reader)
    elif data is not None:
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


# ---------------------------------------------------------------------------
# Expected trees


def _describe(e, data=None):
    t = e["type"]
    d = {"type": t, "uid": e.get("uid", 0), "gid": e.get("gid", 0)}
    if t != "symlink":
        d["mode"] = e.get("mode", 0o755 if t == "dir" else 0o644)
    if t == "file":
        data = _content(e) if data is None else data
        d["size"] = len(data)
        d["sha256"] = sha256_hex(data)
        d["nlink"] = 1
    if t == "symlink":
        d["target"] = e["target"]
    if t in ("char", "block"):
        d["major"], d["minor"] = e["major"], e["minor"]
    if t != "dir":
        d["mtime"] = e.get("mtime", FIXED_TIME)
    if e.get("xattrs"):
        d["xattrs"] = dict(e["xattrs"])
    return d


def apply_specs(layers):
    """The tree a stack of layer specs (base first) produces, as a
    description: {"/path": {...}} (see scan_tree for the keys)."""
    tree = {}

    def drop_under(p, keep_self=True):
        for k in [k for k in tree if k.startswith(p + "/") or (not keep_self and k == p)]:
            del tree[k]

    for spec in layers:
        # Whiteouts and opaque markers only hide what lower layers have.
        for e in spec:
            p = "/" + e["path"]
            if e["type"] == "whiteout":
                drop_under(p, keep_self=False)
            elif e["type"] == "opaque":
                drop_under(p)
        for e in spec:
            p = "/" + e["path"]
            t = e["type"]
            if t in ("whiteout", "opaque"):
                continue
            old = tree.get(p)
            if old is not None and not (old["type"] == "dir" and t == "dir"):
                drop_under(p)
            if t == "hardlink":
                src = tree["/" + e["target"]]
                group = src.get("hardlink") or e["target"]
                src["hardlink"] = group
                src["nlink"] += 1
                tree[p] = src  # the same dict: one inode, two names
            else:
                tree[p] = _describe(e)
    # Unshare the hard-linked dicts so callers can edit freely.
    return {k: copy.deepcopy(v) for k, v in tree.items()}


def scan_tree(root, ignore=()):
    """Describe the tree under `root` (not root itself):
    {"/path": {"type": file|dir|symlink|char|block|fifo|socket, "mode": perm
    bits (not for symlinks), "uid", "gid", "mtime" (not for dirs), file:
    "size", "sha256", "nlink"; symlink: "target"; devices: "major", "minor";
    "xattrs": {user.* name: bytes} when any; "hardlink": a group name shared
    by every name of an inode with nlink > 1}. Paths under an `ignore`
    prefix ("/proc") are left out."""
    out = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, root)
            if any(rel == i or rel.startswith(i.rstrip("/") + "/") for i in ignore):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            st = os.lstat(full)
            m = st.st_mode
            d = {"uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISLNK(m):
                d["type"] = "symlink"
                d["target"] = os.readlink(full)
            else:
                d["mode"] = stat.S_IMODE(m)
                if stat.S_ISDIR(m):
                    d["type"] = "dir"
                elif stat.S_ISREG(m):
                    d["type"] = "file"
                    h = hashlib.sha256()
                    with open(full, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    d["size"] = st.st_size
                    d["sha256"] = h.hexdigest()
                    d["nlink"] = st.st_nlink
                    if st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        inodes.setdefault(key, []).append(rel)
                elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                    d["type"] = "char" if stat.S_ISCHR(m) else "block"
                    d["major"], d["minor"] = os.major(st.st_rdev), os.minor(st.st_rdev)
                elif stat.S_ISFIFO(m):
                    d["type"] = "fifo"
                elif stat.S_ISSOCK(m):
                    d["type"] = "socket"
            if not stat.S_ISDIR(m):
                d["mtime"] = int(st.st_mtime)
            try:
                names = os.listxattr(full, follow_symlinks=False)
            except OSError:
                names = []
            xa = {n: os.getxattr(full, n, follow_symlinks=False) for n in names
                  if n.startswith("user.")}
            if xa:
                d["xattrs"] = xa
            out[rel] = d
            if name in dirnames and stat.S_ISLNK(m):
                dirnames.remove(name)
    for names in inodes.values():
        group = min(names)[1:]
        for n in names:
            out[n]["hardlink"] = group
    return out


def compare_tree(expected, actual, check_mtime=True, check_nlink=True):
    """Differences between two descriptions, as readable strings (empty
    when they match). Keys missing from `expected` entries are not checked
    (a description may leave out mtime, say); hard link groups are compared
    as sets of names."""
    problems = []
    for p in sorted(set(expected) - set(actual)):
        problems.append("%s: missing (expected %s)" % (p, expected[p]["type"]))
    for p in sorted(set(actual) - set(expected)):
        problems.append("%s: unexpected %s" % (p, actual[p]["type"]))
    groups_e, groups_a = {}, {}
    for p in sorted(set(expected) & set(actual)):
        e, a = expected[p], actual[p]
        for k, v in e.items():
            if k == "hardlink":
                continue
            if k == "mtime" and not check_mtime:
                continue
            if k == "nlink" and not check_nlink:
                continue
            if k == "xattrs":
                if a.get("xattrs", {}) != v:
                    problems.append("%s: xattrs %r, expected %r" % (p, a.get("xattrs"), v))
                continue
            if a.get(k) != v:
                fmt = "%s: %s is %o, expected %o" if k == "mode" and isinstance(a.get(k), int) \
                    else "%s: %s is %r, expected %r"
                problems.append(fmt % (p, k, a.get(k), v))
        if "xattrs" not in e and a.get("xattrs"):
            problems.append("%s: unexpected xattrs %r" % (p, a["xattrs"]))
        if e.get("hardlink"):
            groups_e.setdefault(e["hardlink"], set()).add(p)
        if a.get("hardlink"):
            groups_a.setdefault(a["hardlink"], set()).add(p)
    se = sorted(sorted(g) for g in groups_e.values())
    sa = sorted(sorted(g) for g in groups_a.values())
    if check_nlink and se != sa:
        problems.append("hard links: %r, expected %r" % (sa, se))
    return problems


# ---------------------------------------------------------------------------
# Building with umoci


def _umoci_config(layout, tag, label_value, extra=()):
    _run([UMOCI, "config", "--image", "%s:%s" % (layout.path, tag),
          "--config.cmd", "sh", "--config.env", PATH_ENV, "--config.workingdir", "/",
          "--config.label", "%s=%s" % (LABEL_KEY, label_value),
          "--created", FIXED_CREATED, "--author", "berth test suite",
          "--architecture", "amd64", "--os", "linux", "--no-history"] + list(extra))


def build_busybox(layout, tag="busybox"):
    """One-layer busybox image built with umoci (new, unpack, repack,
    config): Cmd ["sh"], Env PATH, WorkingDir /, label
    org.berth.test.fixture=busybox; expected_tree set."""
    if not isinstance(layout, Layout):
        layout = Layout.create(layout)
    spec = busybox_spec()
    work = tempfile.mkdtemp(prefix="bb-", dir=layout.path + "/..")
    try:
        img = "%s:%s" % (layout.path, tag)
        _run([UMOCI, "new", "--image", img])
        bundle = os.path.join(work, "bundle")
        _run([UMOCI, "unpack", "--image", img, bundle])
        rootfs = os.path.join(bundle, "rootfs")
        materialize(spec, rootfs)
        _run([UMOCI, "repack", "--image", img, "--history.created", FIXED_CREATED,
              "--history.created_by", "berth fixture: busybox-static with applet links",
              "--history.author", "berth test suite", bundle])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _umoci_config(layout, tag, "busybox")
    image = layout.image(tag, "busybox")
    image.expected_tree = apply_specs([spec])
    return image


def _add_layer(layout, tag, spec, created_by, new_tag=None):
    fd, tmp = tempfile.mkstemp(suffix=".tar", dir=layout.path + "/..")
    try:
        with os.fdopen(fd, "wb") as f:
            spec_tar(spec, f)
        args = [UMOCI, "raw", "add-layer", "--image", "%s:%s" % (layout.path, tag),
                "--history.created", FIXED_CREATED, "--history.created_by", created_by,
                "--history.author", "berth test suite"]
        if new_tag:
            args += ["--tag", new_tag]
        _run(args + [tmp])
    finally:
        os.unlink(tmp)


def build_layered(layout, base=None, tag="layered"):
    """busybox + layer 2 (whiteout of /etc/motd and /gone, opaque /opaque,
    file <-> directory swaps, hard links, symlinks, /dev-null-copy char 1:3,
    a fifo, setuid/setgid/0600 modes, uid 1000 files, xattr user.test, an
    old mtime, a long and a UTF-8 name) + layer 3 (/opaque/upper-3, /gone
    back with /gone/again). Label org.berth.test.fixture=layered,
    WorkingDir /data. expected_tree describes the final rootfs."""
    if not isinstance(layout, Layout):
        layout = Layout.create(layout)
    if base is None:
        try:
            base = layout.image("busybox")
        except KeyError:
            base = build_busybox(layout)
    _add_layer(layout, base.tag, layered_layer2_spec(),
               "berth fixture: whiteouts, opaque dir, special files", new_tag=tag)
    _add_layer(layout, tag, layered_layer3_spec(), "berth fixture: into the opaque dir")
    _umoci_config(layout, tag, "layered", ["--config.workingdir", "/data"])
    image = layout.image(tag, "layered")
    image.expected_tree = apply_specs([busybox_spec(), layered_layer2_spec(),
                                       layered_layer3_spec()])
    return image


# ---------------------------------------------------------------------------
# Multi-platform


def docker_manifest(oci_manifest):
    """The Docker schema 2 form of an OCI image manifest (same blobs)."""
    m = {"schemaVersion": 2, "mediaType": reg.MT_DOCKER_MANIFEST,
         "config": {"mediaType": MT_DOCKER_CONFIG, "size": oci_manifest["config"]["size"],
                    "digest": oci_manifest["config"]["digest"]},
         "layers": []}
    for layer in oci_manifest["layers"]:
        assert layer["mediaType"] == MT_OCI_LAYER_GZIP, layer
        m["layers"].append({"mediaType": MT_DOCKER_LAYER_GZIP, "size": layer["size"],
                            "digest": layer["digest"]})
    return m


def _json_bytes(obj):
    return json.dumps(obj, indent=3).encode()


class MultiPlatform:
    """The busybox image for linux/amd64 and linux/arm64/v8 (same layer,
    config architecture arm64 variant v8), as an OCI index and as a Docker
    manifest list.

    platforms: [{"os", "architecture", "variant"?}] in index order
    oci_manifests / docker_manifests: {platform string: bytes}
    configs: {platform string: bytes}
    oci_index / docker_list: bytes (what gets uploaded)
    oci_index_digest / docker_list_digest
    layer: the shared layer descriptor; images: {platform: Image} (amd64 is
    the busybox fixture itself, arm64 is tagged "busybox-arm64" in the
    layout). The layout also has tag "multi" -> the OCI index, so skopeo
    copy --all oci:DIR:multi works."""

    def __init__(self, layout, base):
        self.layout = layout
        self.base = base
        arm_cfg = dict(base.config)
        arm_cfg["architecture"] = "arm64"
        arm_cfg["variant"] = "v8"
        arm_cfg["config"] = dict(arm_cfg["config"])
        arm_cfg["config"]["Labels"] = dict(arm_cfg["config"].get("Labels") or {})
        arm_cfg["config"]["Labels"][LABEL_KEY] = "busybox-arm64"
        cfg_desc = layout.write_json(arm_cfg, MT_OCI_CONFIG)
        arm_manifest = dict(base.manifest)
        arm_manifest["config"] = cfg_desc
        mdesc = layout.write_json(arm_manifest, reg.MT_OCI_MANIFEST)
        layout.set_tag("busybox-arm64", mdesc)
        arm = layout.image("busybox-arm64", "busybox-arm64")
        self.images = {"linux/amd64": base, "linux/arm64/v8": arm}
        self.platforms = [{"os": "linux", "architecture": "amd64"},
                          {"os": "linux", "architecture": "arm64", "variant": "v8"}]
        self.layer = base.layers[0]
        self.configs = {p: i.config_bytes for p, i in self.images.items()}
        self.oci_manifests = {p: i.manifest_bytes for p, i in self.images.items()}
        self.docker_manifests = {p: _json_bytes(docker_manifest(i.manifest))
                                 for p, i in self.images.items()}

        def entries(manifests, mt):
            out = []
            for plat in self.platforms:
                key = platform_string(plat)
                data = manifests[key]
                out.append({"mediaType": mt, "size": len(data),
                            "digest": "sha256:" + sha256_hex(data), "platform": dict(plat)})
            return out

        self.oci_index = _json_bytes({"schemaVersion": 2, "mediaType": reg.MT_OCI_INDEX,
                                      "manifests": entries(self.oci_manifests,
                                                           reg.MT_OCI_MANIFEST)})
        self.docker_list = _json_bytes({"schemaVersion": 2, "mediaType": reg.MT_DOCKER_LIST,
                                        "manifests": entries(self.docker_manifests,
                                                             reg.MT_DOCKER_MANIFEST)})
        self.oci_index_digest = "sha256:" + sha256_hex(self.oci_index)
        self.docker_list_digest = "sha256:" + sha256_hex(self.docker_list)
        d, n = layout.write_blob(self.oci_index)
        layout.set_tag("multi", {"mediaType": reg.MT_OCI_INDEX, "digest": d, "size": n})

    def manifest_digest(self, platform, kind="oci"):
        data = (self.oci_manifests if kind == "oci" else self.docker_manifests)[platform]
        return "sha256:" + sha256_hex(data)


def platform_string(p):
    s = "%s/%s" % (p["os"], p["architecture"])
    if p.get("variant"):
        s += "/" + p["variant"]
    return s


def build_multiplatform(layout, base=None):
    if not isinstance(layout, Layout):
        layout = Layout.create(layout)
    if base is None:
        try:
            base = layout.image("busybox")
        except KeyError:
            base = build_busybox(layout)
    return MultiPlatform(layout, base)


def push_index(client, name, tag, multi, kind="oci"):
    """Upload the blobs, the per-platform manifests (by digest) and the
    index (kind "oci") or manifest list (kind "docker") as name:tag with a
    RegistryClient. Returns the index digest."""
    client.upload_blob(name, multi.layout.read_blob(multi.layer["digest"]))
    for cfg in multi.configs.values():
        client.upload_blob(name, cfg)
    if kind == "oci":
        manifests, mt, index, imt = (multi.oci_manifests, reg.MT_OCI_MANIFEST, multi.oci_index,
                                     reg.MT_OCI_INDEX)
    else:
        manifests, mt, index, imt = (multi.docker_manifests, reg.MT_DOCKER_MANIFEST,
                                     multi.docker_list, reg.MT_DOCKER_LIST)
    for data in manifests.values():
        client.put_manifest(name, "sha256:" + sha256_hex(data), data, mt)
    return client.put_manifest(name, tag, index, imt)


# ---------------------------------------------------------------------------
# Schema 1


def schema1_manifest(image, name, tag):
    """The unsigned schema 1 manifest (bytes) of a one-layer image."""
    assert len(image.layers) == 1, "schema 1 fixture supports one layer"
    cfg = image.config
    v1 = {"id": sha256_hex(image.config_bytes), "created": cfg.get("created", FIXED_CREATED),
          "architecture": cfg["architecture"], "os": cfg["os"],
          "config": cfg.get("config", {}), "container_config": {"Cmd": ["/bin/sh"]}}
    m = {"schemaVersion": 1, "name": name, "tag": tag, "architecture": cfg["architecture"],
         "fsLayers": [{"blobSum": image.layers[0]["digest"]}],
         "history": [{"v1Compatibility": json.dumps(v1, separators=(",", ":"))}]}
    return json.dumps(m, indent=3).encode()


def sign_schema1(payload, key):
    """A libtrust 'pretty' JWS over a schema 1 manifest, as docker 1.x
    pushed them. `key` is a registry.SigningKey."""
    close = len(payload.rstrip())  # index after the final "}"
    assert payload[close - 1:close] == b"}"
    format_length = len(payload[:close - 1].rstrip())
    tail = payload[format_length:]
    protected = reg.b64url(json.dumps({"formatLength": format_length,
                                       "formatTail": reg.b64url(tail),
                                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime())}))
    sig = key.sign_es256((protected + "." + reg.b64url(payload)).encode())
    sigs = [{"header": {"jwk": key.jwk(), "alg": "ES256"}, "signature": reg.b64url(sig),
             "protected": protected}]
    sig_json = json.dumps(sigs, indent=3).replace("\n", "\n   ")
    return payload[:format_length] + b",\n   \"signatures\": " + sig_json.encode() + tail


def push_schema1(client, name, tag, image, key):
    """Upload the layer and a signed schema 1 manifest as name:tag (the
    registry must run with schema1=True). Returns the manifest digest (of
    the unsigned payload, as the registry computes it)."""
    client.upload_blob(name, image.layout.read_blob(image.layers[0]["digest"]))
    payload = schema1_manifest(image, name, tag)
    signed = sign_schema1(payload, key)
    client.put_manifest(name, tag, signed, reg.MT_SCHEMA1_SIGNED)
    return "sha256:" + sha256_hex(payload)


# ---------------------------------------------------------------------------
# The big image


class _RandomReader:
    """A file-like object yielding `size` deterministic random bytes."""

    def __init__(self, seed, size):
        self.rng = random.Random(seed)
        self.left = size

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return self.rng.randbytes(n) if n else b""


class _GzipSink:
    """Write target: hashes the tar (diff ID), gzips it, hashes and stores
    the compressed bytes (digest)."""

    def __init__(self, path, level):
        self.f = open(path, "wb")
        self.z = zlib.compressobj(level, zlib.DEFLATED, 31)  # gzip, mtime 0
        self.raw = hashlib.sha256()
        self.comp = hashlib.sha256()
        self.size = 0

    def _out(self, data):
        if data:
            self.comp.update(data)
            self.f.write(data)
            self.size += len(data)

    def write(self, data):
        self.raw.update(data)
        self._out(self.z.compress(data))
        return len(data)

    def close(self):
        self._out(self.z.flush())
        self.f.close()


BIG_VERSION = 1  # bump when the big image's content changes


def _big_layer(blobdir, i, layer_bytes, seed, level, with_busybox):
    tmp = os.path.join(blobdir, "layer-%d.tmp" % i)
    sink = _GzipSink(tmp, level)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if with_busybox:
            for e in busybox_spec():
                if e["path"].split("/")[0] not in ("opaque", "gone", "swap"):
                    _add_tar_entry(tf, e)
        _add_tar_entry(tf, _e("dir", "big", mode=0o755))
        e = _e("file", "big/layer-%d.bin" % i, mode=0o644, size=layer_bytes)
        _add_tar_entry(tf, e, reader=_RandomReader(seed * 1000 + i, layer_bytes))
    sink.close()
    digest = "sha256:" + sink.comp.hexdigest()
    os.rename(tmp, os.path.join(blobdir, digest.split(":")[1]))
    return {"mediaType": MT_OCI_LAYER_GZIP, "digest": digest, "size": sink.size}, \
        "sha256:" + sink.raw.hexdigest()


def build_big(cache_dir, layers=5, layer_mb=30, seed=1, level=1, tag="big"):
    """A deterministic image of `layers` gzip layers of ~`layer_mb` MB of
    random data each (file /big/layer-N.bin; layer 0 also carries busybox so
    the image runs `sh`). Built in parallel threads into
    cache_dir/big-<params>/ and reused on later calls (a complete marker
    guards half-built layouts)."""
    name = "big-v%d-l%d-m%d-s%d-z%d" % (BIG_VERSION, layers, layer_mb, seed, level)
    final = os.path.join(cache_dir, name)
    if os.path.exists(os.path.join(final, ".complete")):
        return Layout(final).image(tag, "big")
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=name + ".", dir=cache_dir)
    os.rmdir(work)  # umoci init wants to create it
    layout = Layout.create(work)
    blobdir = os.path.join(work, "blobs", "sha256")
    os.makedirs(blobdir, exist_ok=True)
    layer_bytes = layer_mb * 1024 * 1024
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        futs = [ex.submit(_big_layer, blobdir, i, layer_bytes, seed, level, i == 0)
                for i in range(layers)]
        results = [f.result() for f in futs]
    config = {"created": FIXED_CREATED, "author": "berth test suite", "architecture": "amd64",
              "os": "linux",
              "config": {"Env": [PATH_ENV], "Cmd": ["sh"], "WorkingDir": "/",
                         "Labels": {LABEL_KEY: "big"}},
              "rootfs": {"type": "layers", "diff_ids": [r[1] for r in results]},
              "history": [{"created": FIXED_CREATED,
                           "created_by": "berth fixture: %d MB of random data" % layer_mb}
                          for _ in results]}
    cdesc = layout.write_json(config, MT_OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": reg.MT_OCI_MANIFEST, "config": cdesc,
                "layers": [r[0] for r in results]}
    layout.set_tag(tag, layout.write_json(manifest, reg.MT_OCI_MANIFEST))
    with open(os.path.join(work, ".complete"), "w") as f:
        f.write("ok\n")
    try:
        os.rename(work, final)
    except OSError:  # someone else finished first
        shutil.rmtree(work, ignore_errors=True)
    return Layout(final).image(tag, "big")


# ---------------------------------------------------------------------------
# skopeo


def skopeo(*args, timeout=300):
    """Run skopeo (--insecure-policy: no /etc/containers/policy.json needed);
    returns stdout."""
    return _run([SKOPEO, "--insecure-policy"] + list(args), timeout=timeout).stdout


_TRANSPORTS = ("docker://", "docker-archive:", "oci:", "oci-archive:", "dir:")


def _docker_ref(dest):
    return dest if "://" in dest else "docker://" + dest


def push(image, dest, format="oci", creds=None, tls_verify=False, timeout=300):
    """skopeo copy `image` (an Image or a transport reference) to
    `dest` ("127.0.0.1:PORT/name:tag"); format "oci" (OCI manifest) or
    "v2s2" (Docker schema 2). Returns the manifest digest pushed."""
    src = image.ref if isinstance(image, Image) else image
    fd, dfile = tempfile.mkstemp(prefix="digest-")
    os.close(fd)
    try:
        args = ["copy", "--dest-tls-verify=%s" % str(tls_verify).lower(), "--digestfile", dfile]
        if format == "v2s2":
            args += ["--format", "v2s2"]
        elif format == "oci":
            args += ["--format", "oci"]
        if creds:
            args += ["--dest-creds", creds]
        skopeo(*(args + [src, _docker_ref(dest)]), timeout=timeout)
        with open(dfile) as f:
            return f.read().strip()
    finally:
        os.unlink(dfile)


def skopeo_inspect(ref, creds=None, raw=False, config=False, arch=None, variant=None,
                   tls_verify=False):
    """skopeo inspect of a docker:// (default for "host/name:tag"),
    docker-archive:, oci: or oci-archive: reference, as a dict."""
    if not ref.startswith(_TRANSPORTS):
        ref = "docker://" + ref
    args = []
    if arch:
        args += ["--override-arch", arch, "--override-os", "linux"]
    if variant:
        args += ["--override-variant", variant]
    args.append("inspect")
    if ref.startswith("docker://"):
        args.append("--tls-verify=%s" % str(tls_verify).lower())
    if creds:
        args += ["--creds", creds]
    if raw:
        args.append("--raw")
    if config:
        args.append("--config")
    return json.loads(skopeo(*(args + [ref])))


def docker_archive(image, path, name):
    """`docker save`-style tar (manifest.json, repositories) of `image`
    tagged `name` ("busybox:latest")."""
    if os.path.exists(path):
        os.unlink(path)
    skopeo("copy", image.ref, "docker-archive:%s:%s" % (path, name))
    return path


def oci_archive(image, path, ref_name="latest"):
    """OCI layout tar of `image` with ref name `ref_name` (skopeo
    oci-archive)."""
    if os.path.exists(path):
        os.unlink(path)
    skopeo("copy", image.ref, "oci-archive:%s:%s" % (path, ref_name))
    return path


# ---------------------------------------------------------------------------
# Everything at once


class Fixtures:
    """Every fixture, built on first use into `workdir` (one OCI layout,
    `workdir/layout`, holding the tags busybox, layered, busybox-arm64,
    multi); the big image goes to `cache_dir` (default workdir/cache) and
    is reused across runs when cache_dir persists. `timings` records the
    seconds each build took."""

    def __init__(self, workdir, cache_dir=None):
        self.workdir = workdir
        self.cache_dir = cache_dir or os.path.join(workdir, "cache")
        self.timings = {}
        os.makedirs(workdir, exist_ok=True)

    def _timed(self, what, fn, *a, **kw):
        t = time.monotonic()
        r = fn(*a, **kw)
        self.timings[what] = time.monotonic() - t
        return r

    @functools.cached_property
    def layout(self):
        return Layout.create(os.path.join(self.workdir, "layout"))

    @functools.cached_property
    def busybox(self):
        return self._timed("busybox", build_busybox, self.layout)

    @functools.cached_property
    def layered(self):
        return self._timed("layered", build_layered, self.layout, self.busybox)

    @functools.cached_property
    def multi(self):
        return self._timed("multi", build_multiplatform, self.layout, self.busybox)

    @functools.cached_property
    def big(self):
        return self._timed("big", build_big, self.cache_dir)

    @functools.cached_property
    def busybox_docker_archive(self):
        return self._timed("docker-archive", docker_archive, self.busybox,
                           os.path.join(self.workdir, "busybox-docker.tar"), "busybox:latest")

    @functools.cached_property
    def busybox_oci_archive(self):
        return self._timed("oci-archive", oci_archive, self.busybox,
                           os.path.join(self.workdir, "busybox-oci.tar"), "latest")

    @functools.cached_property
    def schema1_key(self):
        return reg.SigningKey(self.workdir, "schema1")
