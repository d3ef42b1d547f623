-- Status reads for wrk: the request is wrk's own (GET with the -H headers run.py passes); this script only
-- counts answers by status code and prints "harbor-bench code:<status> <count>" lines for run.py.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

codes, samples = {}, {}

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   if status ~= 200 and #samples < 3 then
      table.insert(samples, status .. " " .. string.sub(body, 1, 300))
   end
end

function done(summary, latency, requests)
   local all_codes, all_samples = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("codes")) do
         all_codes[status] = (all_codes[status] or 0) + count
      end
      for _, sample in ipairs(thread:get("samples")) do
         table.insert(all_samples, sample)
      end
   end
   for status, count in pairs(all_codes) do
      io.write(string.format("harbor-bench code:%d %d\n", status, count))
   end
   for _, sample in ipairs(all_samples) do
      io.write("harbor-bench sample " .. string.gsub(sample, "\n", " ") .. "\n")
   end
end
