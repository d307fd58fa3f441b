& dnscmd.exe 'DC01' '/recordadd' 'msglab.local' 'client' 'A' '10.0.0.40'
"exit: $LASTEXITCODE"
$out = & dnscmd 'DC01' '/fail'
if ($LASTEXITCODE -ne 0) { throw ('dnscmd failed with exit code ' + $LASTEXITCODE) }
