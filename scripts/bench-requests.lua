-- wrk script for scripts/bench-requests: POST /api/v1/requests, each request a new member ID
-- (so none is a duplicate of another), counted by status.
--   ATTACH=0: JSON;  ATTACH=N: multipart with an N-byte file that starts like a PNG and carries
--   the member ID, so that every request stores a new file (the store keeps one per hash).
local attach = tonumber(os.getenv("ATTACH") or "0")
local threads = {}
local counter = 0
local id_base

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  -- 12 digits: thread, then the start second, then the request count (under 100,000 a run)
  id_base = 100000000000 + tid * 10000000000 + (os.time() % 100000) * 100000
  n, created, other = 0, 0, 0
  padding = string.rep("\0", math.max(attach - 8 - 12, 0))
end

local function fields(member)
  return {
    member_id = tostring(member), name = "Нагрузка Тестовая", email = "bench" .. member .. "@example.com",
    phone = "", country = "RU", topic = "other", subject = "Нагрузочный тест " .. member,
    description = "Обращение " .. member .. " из нагрузочного теста: проверяем скорость записи на диск.",
  }
end

function request()
  n = n + 1
  local member = id_base + n
  local f = fields(member)
  if attach == 0 then
    local parts = {}
    for k, v in pairs(f) do table.insert(parts, string.format('"%s":"%s"', k, v)) end
    return wrk.format("POST", "/api/v1/requests", {["Content-Type"] = "application/json"},
                      "{" .. table.concat(parts, ",") .. "}")
  end
  local b = "benchboundary7e3f"
  local parts = {}
  for k, v in pairs(f) do
    table.insert(parts, "--" .. b .. '\r\nContent-Disposition: form-data; name="' .. k .. '"\r\n\r\n' .. v .. "\r\n")
  end
  table.insert(parts, "--" .. b .. '\r\nContent-Disposition: form-data; name="attachments"; filename="scan.png"\r\n'
    .. "Content-Type: image/png\r\n\r\n" .. "\137PNG\r\n\26\n" .. string.format("%12d", member) .. padding .. "\r\n--" .. b .. "--\r\n")
  return wrk.format("POST", "/api/v1/requests", {["Content-Type"] = "multipart/form-data; boundary=" .. b},
                    table.concat(parts))
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
  if status ~= 201 and other <= 3 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 200) .. "\n") end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("created %d other %d p50_us %d p99_us %d\n", c, o,
                         latency:percentile(50), latency:percentile(99)))
end
