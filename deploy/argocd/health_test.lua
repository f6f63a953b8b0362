-- Runs health-fachverfahrenonboarding.lua against sample onboardings the way Argo CD does (the object as the
-- global `obj`, the script's return value as the health). Usage: lua5.4 deploy/argocd/health_test.lua
-- Exits non-zero when a sample gets the wrong health.
local dir = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$")) or "."
local script = dir .. "/health-fachverfahrenonboarding.lua"

local function health(o)
  local env = setmetatable({ obj = o }, { __index = _G })
  local chunk, err = loadfile(script, "t", env)
  if chunk == nil then
    error("cannot load " .. script .. ": " .. err)
  end
  return chunk()
end

local function cond(status, reason, message, observed)
  return { type = "Ready", status = status, reason = reason, message = message, observedGeneration = observed }
end

local samples = {
  { name = "no status yet", want = "Progressing",
    obj = { metadata = { name = "a", generation = 1 } } },
  { name = "status of an older generation", want = "Progressing",
    obj = { metadata = { generation = 3 }, status = { observedGeneration = 2, phase = "Ready",
      conditions = { cond("True", "Provisioned", "all environments provisioned", 2) } } } },
  { name = "ready and current", want = "Healthy",
    obj = { metadata = { generation = 2 }, status = { observedGeneration = 2, phase = "Ready",
      conditions = { cond("True", "Provisioned", "all environments provisioned", 2) } } } },
  { name = "provisioning", want = "Progressing",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, phase = "Provisioning",
      conditions = { cond("False", "Provisioning", "applying objects", 1) } } } },
  { name = "blocked by a missing Ressort", want = "Degraded",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, phase = "Blocked",
      conditions = { cond("False", "RessortNotFound", "Ressort mk does not exist", 1) } } } },
  { name = "pending (older operator)", want = "Progressing",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, phase = "Pending",
      conditions = { cond("False", "Waiting", "waiting", 1) } } } },
  { name = "degraded by a namespace conflict", want = "Degraded",
    obj = { metadata = { generation = 4 }, status = { observedGeneration = 4, phase = "Degraded",
      conditions = { cond("False", "NamespaceConflict", "namespace mk-x-prod exists and is not ours", 4) } } } },
  { name = "failed on an invalid spec", want = "Degraded",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, phase = "Failed",
      conditions = { cond("False", "InvalidSpec", "environment names repeat", 1) } } } },
  { name = "ready condition lags behind", want = "Progressing",
    obj = { metadata = { generation = 5 }, status = { observedGeneration = 5, phase = "Ready",
      conditions = { cond("True", "Provisioned", "ok", 4) } } } },
  { name = "terminating", want = "Progressing",
    obj = { metadata = { generation = 2 }, status = { observedGeneration = 2, phase = "Terminating",
      conditions = { cond("False", "Terminating", "deleting namespaces", 2) } } } },
}

local failed = 0
for _, s in ipairs(samples) do
  local hs = health(s.obj)
  local ok = hs.status == s.want and type(hs.message) == "string" and hs.message ~= ""
  print(string.format("%s %-36s -> %-11s %s", ok and "ok  " or "FAIL", s.name, tostring(hs.status), tostring(hs.message)))
  if not ok then
    failed = failed + 1
  end
end
if failed > 0 then
  print(failed .. " sample(s) got the wrong health")
  os.exit(1)
end
print("all " .. #samples .. " samples got the right health")
