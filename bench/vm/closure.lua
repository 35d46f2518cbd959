-- Closure creation + call, 2*10^7 times; each closure captures the loop variable.
local s = 0
for i = 1, 20000000 do
  local f = function(x) return x + i end
  s = s + f(1)
end
print(s)
