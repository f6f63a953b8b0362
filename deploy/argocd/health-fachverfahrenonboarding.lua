-- Argo CD health check for FachverfahrenOnboarding (conplus.niedersachsen.de).
--
-- Reads only the kstatus contract of the operator: status.observedGeneration and the Ready condition,
-- with status.phase to tell a transient "not ready" from a failure.
--   Healthy      Ready=True and the status describes the current generation
--   Progressing  the operator has not yet observed the current generation, or Ready is not True while the
--                phase is Pending, Provisioning or Terminating (or Ready is Unknown/missing)
--   Degraded     Ready=False with phase Blocked, Degraded or Failed: someone has to act (the Ready reason and
--                message say what, e.g. RessortNotFound)
hs = {}

local function ready_condition(status)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    if c.reason ~= nil and c.reason ~= "" then
      return c.reason .. ": " .. c.message
    end
    return c.message
  end
  return fallback
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up the onboarding"
  return hs
end

if status.observedGeneration == nil or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = ready_condition(status)
-- A condition that carries its own observedGeneration may lag behind the status' one.
if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition of generation " .. tostring(generation)
  return hs
end

local phase = status.phase or ""
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if ready ~= nil and ready.status == "False" and (phase == "Blocked" or phase == "Degraded" or phase == "Failed") then
  hs.status = "Degraded"
  hs.message = describe(ready, "Phase " .. phase)
  return hs
end

hs.status = "Progressing"
if phase ~= "" then
  hs.message = describe(ready, "Phase " .. phase)
else
  hs.message = describe(ready, "Waiting for the Ready condition")
end
return hs
