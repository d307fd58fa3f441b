$x = 'it''s', ‘quoted’, "dq $env:COMPUTERNAME $(1 + 2)", 5
$x.Count
$x[0]; $x[-1]
$n = [int]'42' + 1
$n
'a' + 1
1 + '2'
7 / 2
7 % 3
'ab' * 3
(1, 2, 3, 4) -gt 2
'Healthy', 'Failed', 'healthy' -eq 'HEALTHY'
'EX10-MB01' -like 'ex10-*'
if ('CopyQueueLength: 12' -match 'Length: (\d+)') { $matches[1] }
'a;b;c' -split ';'
('x', 'y') -join '+'
'10.0.0.50' -replace '\.(\d+)$', '.$1/24'
[string]::Join(',', @('p', 'q'))
[string]::IsNullOrEmpty($null)
[Math]::Max(3, 9)
$e = @()
$e.Count
@($null).Count
$h = @{Name = 'MB01'; Count = 2}
$h.Name; $h['count']
$h.Count
$t = Get-Date
$t.ToUniversalTime().ToString('o')
[string]$t
"$t"
$t.ToString()
$i = 0
while ($true) { $i++; if ($i -ge 5) { break } }
$i
$sum = 0
foreach ($k in 1..10) { if ($k % 2) { continue }; $sum += $k }
$sum
do { $i-- } until ($i -le 2)
$i
for ($j = 0; $j -lt 3; $j++) { "j=$j" }
-not $true
!(0)
$null -eq $null
'  padded  '.Trim().ToUpper()
'MB01\EX10-MB01'.Split('\')[1]
'abc'.Replace('b', 'B').StartsWith('aB')
"{0}-{1:D3}" -f 'DB', 7
$s = & { 'in block'; 'two' }
$s.Count
[bool]'False'
[datetime]'2026-01-02T03:04:05Z'
$list = 'c', 'a', 'b' | Sort-Object
$list -join ','
('c', 'a', 'b' | Sort-Object -Descending) -join ','
(1, 2, 3 | Measure-Object).Count
(1..5 | Where-Object { $_ -gt 3 }) -join ','
(1..3 | ForEach-Object { $_ * 10 }) -join ','
1..3 | % { $_ } | ? { $_ -ne 2 }
Join-Path 'C:\a\' '\b'
