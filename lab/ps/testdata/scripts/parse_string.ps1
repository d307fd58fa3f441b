'ok'
Write-Host 'it''s unterminated
