-- wrk script: every request asks for a different customer id, read from a file (one id a line).
--
--   wrk -t1 -c32 -d10s --latency -s bench/ids.lua http://127.0.0.1:PORT -- IDS_FILE [PATH_PREFIX]
--
-- PATH_PREFIX defaults to /v1/customers/. Headers given with -H (X-API-Key, Authorization) are
-- sent with every request. With several threads (-t N) each takes every N-th id, so no two
-- requests of a run share an id until the list is exhausted; after that the ids wrap around
-- (the run then counts those answers as "reused" so the harness can tell cold from warm).
-- At the end it prints one line per thread total:
--   ids-lua: requests=R reused=U status_2xx=A status_other=B xcache_MISS=M xcache_HIT=H xcache_other=O

local threads = {}
local counter = 0

-- IDS_PACE_MS (environment): wait that long after each answer before the next request, so the
-- server sees requests spaced as a slower client would space them. Read here, at load time:
-- wrk looks for a delay() function before any thread's init() runs.
local pace = tonumber(os.getenv("IDS_PACE_MS") or "")
if pace then
   function delay()
      return pace
   end
end

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   prefix = args[2] or "/v1/customers/"
   local nthreads = tonumber(args[3] or "1")
   ids = {}
   local index = 0
   for line in io.lines(path) do
      if line ~= "" then
         if index % nthreads == tid then
            table.insert(ids, line)
         end
         index = index + 1
      end
   end
   if #ids == 0 then
      error("ids-lua: no ids for this thread in " .. path)
   end
   position = 0
   sent = 0
   reused = 0
   ok = 0
   other = 0
   miss = 0
   hit = 0
   xother = 0
end

function request()
   position = position + 1
   if position > #ids then
      position = 1
   end
   sent = sent + 1
   if sent > #ids then
      reused = reused + 1
   end
   return wrk.format("GET", prefix .. ids[position])
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      other = other + 1
   end
   local cache = headers["X-Cache"] or headers["x-cache"]
   if cache == "MISS" then
      miss = miss + 1
   elseif cache == "HIT" then
      hit = hit + 1
   else
      xother = xother + 1
   end
end

function done(summary, latency, requests)
   local totals = {sent = 0, reused = 0, ok = 0, other = 0, miss = 0, hit = 0, xother = 0}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   io.write(string.format(
      "ids-lua: requests=%d reused=%d status_2xx=%d status_other=%d xcache_MISS=%d xcache_HIT=%d xcache_other=%d\n",
      totals.sent, totals.reused, totals.ok, totals.other, totals.miss, totals.hit, totals.xother))
end
