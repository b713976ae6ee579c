-- wrk script for scripts/bench-load: replays a list of requests and counts the answers by status.
--   LIST=FILE   one request a line: "G <path>" (GET) or "C" (POST /api/v1/requests, a new member
--               ID each time so that no creation is a duplicate of another); each thread starts
--               at its own offset and cycles through the list.
--   COOKIE=...  sent with every request (a desk session).
-- done() prints: "status CODE COUNT" lines, "lat_us P50 P99 P999 MAX", "total N SECONDS".
local list_file = os.getenv("LIST")
local cookie = os.getenv("COOKIE")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(list_file) do
    if line ~= "" then table.insert(lines, line) end
  end
  pos = ((tid - 1) * 7919) % #lines
  n = 0
  statuses = {}
  -- 12-digit member IDs: thread, the start second, then a count (under 10^6 a run)
  id_base = 100000000000 + tid * 10000000000 + (os.time() % 10000) * 1000000
  headers = {}
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
end

local topics = {"order", "payouts", "personal-data", "other", "return", "verification"}

function request()
  pos = pos % #lines + 1
  local line = lines[pos]
  if line:sub(1, 1) == "C" then
    n = n + 1
    local member = id_base + n
    local body = string.format('{"member_id":"%d","name":"Нагрузка Тестовая","email":"load%d@example.com",' ..
      '"phone":"","country":"RU","topic":"%s","order_number":"%d","subject":"Вопрос по заказу %d",' ..
      '"description":"Обращение %d из нагрузочного теста: заказ не пришёл, прошу проверить статус доставки."}',
      member, member, topics[n % #topics + 1], member % 100000000, member, member)
    local h = {["Content-Type"] = "application/json"}
    if headers["Cookie"] then h["Cookie"] = headers["Cookie"] end
    return wrk.format("POST", "/api/v1/requests", h, body)
  end
  return wrk.format("GET", line:sub(3), headers)
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, count in pairs(s) do all[code] = (all[code] or 0) + count end
  end
  for code, count in pairs(all) do io.write(string.format("status %d %d\n", code, count)) end
  local e = summary.errors
  io.write(string.format("socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("lat_us %d %d %d %d\n", latency:percentile(50), latency:percentile(99),
                         latency:percentile(99.9), latency.max))
  io.write(string.format("total %d %.3f\n", summary.requests, summary.duration / 1e6))
end
