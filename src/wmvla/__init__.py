"""wmvla: does a world model add the missing modality to vision-language-action control?"""
