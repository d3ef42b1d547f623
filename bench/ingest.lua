-- Signed ingest for wrk (bench/run.py writes the requests file and starts wrk with this script).
--
--   wrk -t1 -c50 -d10s -s bench/ingest.lua http://127.0.0.1:PORT/api/v1/fleets/F/positions -- FILE KEY_ID THREADS
--
-- FILE holds one pre-signed request per line: "<unix seconds>\t<hex signature>\t<json body>\t<path>".
-- Each request goes to its own line's path (run.py --fleets N spreads them over N fleets); the URL's
-- path on the command line is not used.
-- Each wrk thread takes every THREADS-th line (so threads never send the same body) and cycles through
-- its share; a body sent a second time is a duplicate, so `wraps` > 0 means the pool was too small.
-- response() counts status codes and the accepted/duplicates the server reported; done() prints one
-- "harbor-bench <name> <value>" line per figure for run.py to parse.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
local stamps, signatures, bodies, paths = {}, {}, {}, {}
local position = 1
local request_headers = {}
codes, accepted, duplicates, wraps, pool = {}, 0, 0, 0, 0
samples = {}

function init(args)
   local file, key_id, thread_count = args[1], args[2], tonumber(args[3] or "1")
   local line_number = 0
   for line in io.lines(file) do
      if line_number % thread_count == id then
         local stamp, signature, body, path = string.match(line, "^(%d+)\t(%x+)\t([^\t]+)\t(/[^\t]*)$")
         assert(stamp, "malformed line " .. line_number .. " in " .. file)
         table.insert(stamps, stamp)
         table.insert(signatures, "v1=" .. signature)
         table.insert(bodies, body)
         table.insert(paths, path)  -- Lua interns strings: one copy per fleet
      end
      line_number = line_number + 1
   end
   pool = #bodies
   assert(pool > 0, "no requests for thread " .. id .. " in " .. file)
   request_headers["Content-Type"] = "application/json"
   request_headers["X-Harbor-Key"] = key_id
end

function request()
   local i = position
   position = position + 1
   if position > pool then
      position = 1
      wraps = wraps + 1
   end
   request_headers["X-Harbor-Timestamp"] = stamps[i]
   request_headers["X-Harbor-Signature"] = signatures[i]
   return wrk.format("POST", paths[i], request_headers, bodies[i])
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   if status == 202 then
      accepted = accepted + tonumber(string.match(body, '"accepted":%s*(%d+)') or "0")
      duplicates = duplicates + tonumber(string.match(body, '"duplicates":%s*(%d+)') or "0")
   elseif #samples < 3 then
      table.insert(samples, status .. " " .. string.sub(body, 1, 300))
   end
end

function done(summary, latency, requests)
   local totals = {accepted = 0, duplicates = 0, wraps = 0, pool = 0}
   local all_codes, all_samples = {}, {}
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
      for status, count in pairs(thread:get("codes")) do
         all_codes[status] = (all_codes[status] or 0) + count
      end
      for _, sample in ipairs(thread:get("samples")) do
         table.insert(all_samples, sample)
      end
   end
   for name, value in pairs(totals) do
      io.write(string.format("harbor-bench %s %d\n", name, value))
   end
   for status, count in pairs(all_codes) do
      io.write(string.format("harbor-bench code:%d %d\n", status, count))
   end
   for _, sample in ipairs(all_samples) do
      io.write("harbor-bench sample " .. string.gsub(sample, "\n", " ") .. "\n")
   end
end
