-- Argo CD health check for lightship.dev/ContainerServiceDeployment.
-- Argo CD runs it (gopher-lua, Lua 5.1) with the object as `obj` and reads `status` and
-- `message` from the table it returns. Numbers come from JSON as floats, so they are formatted
-- with %d and never concatenated, which would print "7.0" in Lua 5.3+.
local hs = {}
local status = obj.status

if status == nil or status.state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

-- A status written for an older spec says nothing about the spec Argo CD just applied.
if status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for the operator to observe generation %d",
    obj.metadata.generation)
  return hs
end

local function serving()
  if status.currentDeployment == nil then
    return "no version serves"
  end
  return string.format("version %d still serves", status.currentDeployment.version)
end

-- versions is newest first. A failed newest version is Degraded even while an older one still
-- serves: the spec in Git is not what runs.
local newest = status.versions and status.versions[1]
if newest ~= nil and newest.state == "Failed" then
  local message = string.format("Version %d failed", newest.version)
  if newest.reason ~= nil then
    message = message .. " (" .. newest.reason .. ")"
  end
  if newest.message ~= nil then
    message = message .. ": " .. newest.message
  end
  hs.status = "Degraded"
  hs.message = message .. "; " .. serving()
  return hs
end

-- Disabled on purpose: every pod stopped, the versions and the URL kept.
if status.state == "Disabled" then
  hs.status = "Suspended"
  if status.currentDeployment == nil then
    hs.message = "The service is disabled"
  else
    hs.message = string.format("The service is disabled; version %d runs again when enabled",
      status.currentDeployment.version)
  end
  return hs
end

if status.nextDeployment ~= nil then
  hs.status = "Progressing"
  hs.message = string.format("Version %d is activating; %s", status.nextDeployment.version,
    serving())
  return hs
end

if status.state == "Running" and newest ~= nil and newest.state == "Active" then
  hs.status = "Healthy"
  hs.message = string.format("Version %d is active", newest.version)
  if status.url ~= nil then
    hs.message = hs.message .. " at " .. status.url
  end
  return hs
end

-- Capacity or settings being applied to the active version (no new version).
if status.state == "Updating" and status.currentDeployment ~= nil then
  hs.status = "Progressing"
  hs.message = string.format("Version %d: applying capacity, %d of %d pods ready",
    status.currentDeployment.version, status.readyReplicas or 0, obj.spec.scale or 1)
  return hs
end

if status.state == "Deploying" or status.state == "Running" or status.state == "Ready" then
  -- The newest version is not active yet (or the operator is between two status writes).
  hs.status = "Progressing"
  if newest == nil then
    hs.message = "No deployment version yet"
  else
    hs.message = string.format("Version %d is %s", newest.version, newest.state)
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown state " .. tostring(status.state)
return hs
