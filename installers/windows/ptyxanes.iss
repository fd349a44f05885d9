; Inno Setup script of the ptyxanes desktop application (Windows, x64).
;
; Built on Windows, after the PyInstaller bundle, from the repository root:
;   py -3.11 -m venv installers\.venv-build
;   installers\.venv-build\Scripts\pip install ".[gui,installer]"
;   installers\.venv-build\Scripts\pyinstaller --noconfirm --distpath installers\build\pyi-dist ^
;       --workpath installers\build\pyi-work installers\pyinstaller\ptyxanes.spec
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" /DAppVersion=<version> installers\windows\ptyxanes.iss
; Output: installers\dist\ptyxanes-<version>-windows-x64-setup.exe
; A per-user install needs no administrator rights (the dialog offers both).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "ptyxanes"
#define Bundle "..\build\pyi-dist\ptyxanes"

[Setup]
AppId={{5B0D1E3C-7F4A-4C1B-9B52-2E4C0A6F7D81}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=ptyxanes developers
AppPublisherURL=https://github.com/ptyxanes/ptyxanes
DefaultDirName={autopf}\ptyxanes
DefaultGroupName=ptyxanes
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesEnvironment=yes
OutputDir=..\dist
OutputBaseFilename=ptyxanes-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\ptyxanes.ico
UninstallDisplayIcon={app}\ptyxanes-gui.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the ptyxanes command to PATH"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\ptyxanes"; Filename: "{app}\ptyxanes-gui.exe"
Name: "{group}\Uninstall ptyxanes"; Filename: "{uninstallexe}"
Name: "{autodesktop}\ptyxanes"; Filename: "{app}\ptyxanes-gui.exe"; Tasks: desktopicon

[Registry]
; PATH entry for the console command (per-user or machine-wide, as installed).
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; \
  ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\ptyxanes-gui.exe"; Description: "{cm:LaunchProgram,ptyxanes}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Files written next to the program (never the user's data or caches).
Type: filesandordirs; Name: "{app}\_internal\ptyxanes\__pycache__"

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
  RootKey: Integer;
begin
  if IsAdminInstallMode then RootKey := HKEY_LOCAL_MACHINE else RootKey := HKEY_CURRENT_USER;
  if not RegQueryStringValue(RootKey, EnvKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
