#!/usr/bin/env python3
"""A minimal adapter for the iommufd-spec adapter contract v1, in plain Python.

It speaks the JSON-lines protocol on stdin/stdout (see spec/contract/ADAPTER.md)
and implements a tiny fake iommufd: open/close of /dev/iommu, IOMMU_IOAS_ALLOC
and IOMMU_DESTROY with the kernel's lowest-free-id rule, ENOTTY for every other
command. Everything else is reported unsupported in `capabilities`, so a suite
skips it. Start here and replace the fake with calls into your implementation.

Run:  python3 fake_adapter.py        (then type JSON lines, or let a client drive it)
"""
import base64
import json
import sys

CONTRACT = 1
NAME, VERSION = "python-example", "1.0.0"
PROFILES = ("6.12", "7.3")
ENOENT, EFAULT, EBADF, EINVAL, ENOTTY, EOPNOTSUPP = 2, 14, 9, 22, 25, 95

# Command names and raw request numbers (_IO(';', nr) = 0x3b00 | nr).
IOMMU_DESTROY, IOMMU_IOAS_ALLOC = 0x3B80, 0x3B81
COMMANDS = {"IOMMU_DESTROY": IOMMU_DESTROY, "IOMMU_IOAS_ALLOC": IOMMU_IOAS_ALLOC}
# struct sizes: iommu_destroy {u32 size; u32 id}, iommu_ioas_alloc {u32 size; u32 flags; u32 out_ioas_id}
STRUCT_SIZE = {IOMMU_DESTROY: 8, IOMMU_IOAS_ALLOC: 12}

ENV_OPS = ["open", "open_device", "close", "ioctl", "read", "write", "poll", "set_process",
           "process_info", "mem_alloc", "mem_write", "mem_read", "mem_unmap", "mem_protect",
           "device_create", "device_remove", "dma", "translate", "pin_count", "iotlb",
           "kvm_create", "kvm_destroy", "kvm_vfio_add", "kvm_vfio_del", "kvm_state", "fail_nth"]
SUPPORTED_OPS = {"open", "close", "ioctl"}
FEATURES = ["multiDeviceGroups", "pasid", "dirtyTracking", "enforceCacheCoherency",
            "noSnoop", "hugeIova", "reservedRegions"]


class ProtocolError(Exception):
    """A request we cannot carry out: answered as {"ok": false, "error": ...}."""

    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.error = {"code": code, "message": message}
        if field is not None:
            self.error["field"] = field


def lowest_free(used, start):
    n = start
    while n in used:
        n += 1
    return n


class FakeIommufd:
    """One object table per open file, ids allocated lowest-free from 1 (xa_alloc, XA_FLAGS_ALLOC1)."""

    def __init__(self, profile):
        self.profile = profile
        self.files = {}  # fd -> {object id: type}

    def capabilities(self):
        unsupported = {"supported": False, "reason": "not in the python example"}
        return {
            "contract": CONTRACT,
            "implementation": {"name": NAME, "version": VERSION},
            "profile": self.profile,
            "commands": {name: {"supported": True} for name in COMMANDS},
            "testOps": {},
            "ops": {op: ({"supported": True} if op in SUPPORTED_OPS else unsupported) for op in ENV_OPS},
            "deviceFeatures": {f: unsupported for f in FEATURES},
            "iommus": [],
        }

    def open(self, req):
        if req["node"] != "iommu":
            raise ProtocolError("unsupported", "only /dev/iommu is modelled", "node")
        fd = lowest_free(self.files, 3)  # like the kernel: lowest free fd, 0-2 are stdio
        self.files[fd] = {}
        return {"fd": fd}

    def close(self, req):
        if self.files.pop(req["fd"], None) is None:
            return {"ret": -1, "errno": EBADF}
        return {"ret": 0, "errno": 0}

    def ioctl(self, req):
        objects = self.files.get(req["fd"])
        if objects is None:
            return {"ret": -1, "errno": EBADF}
        cmd = req["cmd"]
        nr = COMMANDS.get(cmd, cmd) if isinstance(cmd, str) else cmd
        if isinstance(cmd, str) and cmd not in COMMANDS:
            return {"ret": -1, "errno": ENOTTY}  # a command this fake does not know
        arg = req["arg"]
        if nr not in STRUCT_SIZE:
            return {"ret": -1, "errno": ENOTTY}
        if arg["kind"] in ("null", "fault", "int"):
            return {"ret": -1, "errno": EFAULT}  # the size word cannot be read
        if arg["kind"] != "struct":
            raise ProtocolError("unsupported", "raw arguments are not decoded by this example", "arg.kind")
        fields = dict(arg["fields"])
        size = fields.get("size", STRUCT_SIZE[nr])
        if size < STRUCT_SIZE[nr]:
            return {"ret": -1, "errno": EINVAL}  # shorter than the minimum size
        tail = decode_b64(arg.get("tail"))
        # The argument ends, zero-padded to 8 bytes, before unreadable memory (ADAPTER.md §3.3):
        # the tail check of a size past that faults, after any non-zero byte the tail holds.
        if any(b != 0 for b in tail):
            return {"ret": -1, "errno": 7}  # E2BIG: non-zero bytes past the struct
        if size > (STRUCT_SIZE[nr] + len(tail) + 7) // 8 * 8:
            return {"ret": -1, "errno": EFAULT}
        fields["size"] = size
        if nr == IOMMU_IOAS_ALLOC:
            if fields.get("flags", 0) != 0:
                return {"ret": -1, "errno": EOPNOTSUPP, "out": fields}
            new_id = lowest_free(objects, 1)
            objects[new_id] = "ioas"
            fields["out_ioas_id"] = new_id
            return {"ret": 0, "errno": 0, "out": fields}
        # IOMMU_DESTROY
        if objects.pop(fields.get("id", 0), None) is None:
            return {"ret": -1, "errno": ENOENT, "out": fields}
        return {"ret": 0, "errno": 0, "out": fields}

    def handle(self, req):
        op = req["op"]
        if op == "capabilities":
            return self.capabilities()
        if op in SUPPORTED_OPS:
            return getattr(self, op)(req)
        raise ProtocolError("unsupported", op + ": not in the python example", "op")


def decode_b64(value):
    return base64.b64decode(value["b64"]) if value else b""


def answer(handler, req):
    """One request -> {"ok": ...} (without id)."""
    try:
        return {"ok": True, "result": handler.handle(req)}
    except ProtocolError as e:
        return {"ok": False, "error": e.error}
    except (KeyError, TypeError, ValueError) as e:
        return {"ok": False, "error": {"code": "bad-request", "message": "malformed request: %r" % (e,)}}


MAX_ID = 2**53 - 1


def main():
    handler = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            rid = msg["id"]
            # ADAPTER.md 7.2: an id is an integer from 0 to 2^53 - 1 (bool is an int in Python: not an id).
            if type(rid) is not int or not 0 <= rid <= MAX_ID:
                raise ValueError("id out of range")
        except (ValueError, KeyError, TypeError):
            reply = {"id": None, "ok": False,
                     "error": {"code": "bad-request", "message": "not a JSON request with an integer id from 0 to 2^53-1", "field": "id"}}
            print(json.dumps(reply), flush=True)
            continue
        op = msg.get("op")
        if op == "hello":
            if CONTRACT not in msg.get("contract", []):
                reply = {"ok": False, "error": {"code": "unsupported", "message": "I speak contract 1", "field": "contract"}}
            elif msg.get("profile") not in (None,) + PROFILES:
                reply = {"ok": False, "error": {"code": "unsupported", "message": "unknown profile", "field": "profile"}}
            else:
                handler = FakeIommufd(msg.get("profile") or "7.3")
                reply = {"ok": True, "result": {"contract": CONTRACT,
                                                "implementation": {"name": NAME, "version": VERSION},
                                                "profile": handler.profile}}
        elif handler is None:
            reply = {"ok": False, "error": {"code": "bad-request", "message": "the first message must be the hello", "field": "op"}}
        elif op == "bye":
            print(json.dumps({"id": rid, "ok": True, "result": {}}), flush=True)
            return
        elif op == "batch":
            reply = {"ok": True, "result": {"responses": [answer(handler, r) for r in msg["requests"]]}}
        else:
            reply = answer(handler, msg)
        print(json.dumps({"id": rid, **reply}), flush=True)


if __name__ == "__main__":
    main()
