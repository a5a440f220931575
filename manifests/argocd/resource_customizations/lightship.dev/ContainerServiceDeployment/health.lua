-- Argo CD health check for lightship.dev/ContainerServiceDeployment.
-- Argo CD runs it (gopher-lua, Lua 5.1) with the object as `obj` and reads `status` and
-- `message` from the table it returns. Registered through argocd-cm it runs without Lua's
-- standard libraries (unless resource.customizations.useOpenLibs says otherwise), so it uses
-- only the base library: no string.format. Numbers come from JSON as floats; gopher-lua
-- concatenates a whole float without a decimal part ("version 7").
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
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end

local function condition(type)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == type and c.status == "True" then
      return c
    end
  end
  return nil
end

local function serving()
  if status.currentDeployment == nil then
    return "no version serves"
  end
  return "version " .. status.currentDeployment.version .. " still serves"
end

-- A Service or route of the service's name that another owner holds: traffic cannot move.
local conflict = condition("Conflict")
if conflict ~= nil then
  hs.status = "Degraded"
  hs.message = "Conflict: " .. tostring(conflict.message)
  return hs
end

-- versions is newest first. A failed newest version is Degraded even while an older one still
-- serves: the spec in Git is not what runs.
local newest = status.versions and status.versions[1]
if newest ~= nil and newest.state == "Failed" then
  local message = "Version " .. newest.version .. " failed"
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

-- The operator cannot make progress (its reconciles keep failing).
local stalled = condition("Stalled")
if stalled ~= nil then
  hs.status = "Degraded"
  hs.message = tostring(stalled.reason) .. ": " .. tostring(stalled.message)
  return hs
end

-- Disabled on purpose: every pod stopped, the versions and the URL kept.
if status.state == "Disabled" then
  hs.status = "Suspended"
  if status.currentDeployment == nil then
    hs.message = "The service is disabled"
  else
    hs.message = "The service is disabled; version " .. status.currentDeployment.version
      .. " runs again when enabled"
  end
  return hs
end

if status.nextDeployment ~= nil then
  hs.status = "Progressing"
  hs.message = "Version " .. status.nextDeployment.version .. " is activating; " .. serving()
  return hs
end

if status.state == "Running" and newest ~= nil and newest.state == "Active" then
  hs.status = "Healthy"
  hs.message = "Version " .. newest.version .. " is active"
  if status.url ~= nil then
    hs.message = hs.message .. " at " .. status.url
  end
  return hs
end

-- Capacity or settings being applied to the active version (no new version).
if status.state == "Updating" and status.currentDeployment ~= nil then
  hs.status = "Progressing"
  hs.message = "Version " .. status.currentDeployment.version .. ": applying capacity, "
    .. (status.readyReplicas or 0) .. " of " .. (obj.spec.scale or 1) .. " pods ready"
  return hs
end

if status.state == "Deploying" or status.state == "Running" or status.state == "Ready" then
  -- The newest version is not active yet (or the operator is between two status writes).
  hs.status = "Progressing"
  if newest == nil then
    hs.message = "No deployment version yet"
  else
    hs.message = "Version " .. newest.version .. " is " .. newest.state
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown state " .. tostring(status.state)
return hs
